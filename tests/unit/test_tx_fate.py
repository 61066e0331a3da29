"""What becomes of an accepted transaction: committed, or dropped with a reason ``tx_get`` reports.

Conflicting transactions (one sender, one nonce, different contents) sent to different validators
are each accepted by one pool; once one of them commits, the others can never commit and must
leave every pool at once instead of lingering as ``pending`` until they expire.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.chain import Chain
from node.chainview import ChainReader
from node.errors import InvalidTransaction
from node.store.chainstore import ChainStore
from node.testing.simnet import SimNetwork
from node.txcheck import check_transaction
from node.txpool import DROP_EXPIRED, DROP_INVALID, DROP_NONCE_USED, DROPPED_MEMORY, PoolLimits, TxPool
from node.wire import codec
from node.wire.types import Transaction
from tests.conftest import COMMITTEE, make_testnet, set_param
from tests.unit.rpc_node import rpc_node
from tests.unit.test_chain import seal


def _signed(net: SimNetwork, nonce: bytes, value: int) -> Transaction:
    tx = Transaction(chain_id=net.genesis.chain_id, nonce=nonce, expiry_height=90_000, sender_pubkey=net.admin.public_bytes,
                     to=COMMITTEE, method="propose",
                     args=codec.encode({"type": "set_param", "payload": {"key": "block_tx_limit", "value": value}}),
                     fuel_limit=1_000_000)
    return Transaction(**{**tx.to_map(), "signature": net.suite.sign(net.admin.private_bytes, tx.signing_bytes())})


def test_conflicting_transactions_sent_to_four_validators_leave_every_pool(tmp_path: Path):
    net = SimNetwork(tmp_path, seed=3, validators=4)
    try:
        nonce = bytes(range(16))
        txs = [_signed(net, nonce, 1_000 + i) for i in range(4)]
        hashes = []
        for node, tx in zip(net.nodes, txs):  # each validator accepts its own one
            assert node.chain is not None and node.core is not None
            hashes.append(node.chain.submit(tx.encode(), forward=False))
            node.core.on_transactions()
        assert net.run_until(lambda: all(len(n.chain.pool) == 0 for n in net.nodes if n.chain), max_ms=5_000), \
            [len(n.chain.pool) for n in net.nodes if n.chain]
        first = net.nodes[0]
        assert first.chain is not None
        committed = [h for h in hashes if first.chain.store.get_tx_location(h) is not None]
        assert len(committed) == 1
        for node in net.nodes:
            assert node.chain is not None
            reader = ChainReader(node.chain.store, node.chain.suite, node.chain.genesis, node.chain.pool)
            for i, h in enumerate(hashes):
                if h in committed:
                    assert reader.dropped(h) is None
                    continue
                record = reader.dropped(h)
                if i == node.index:  # this node had it pooled
                    assert record is not None and record.reason == DROP_NONCE_USED, record
                assert reader.transaction(h) is None
    finally:
        net.close()


def _pool(net, head: list[int], used: set[tuple[bytes, bytes]] | None = None) -> TxPool:
    used = used if used is not None else set()
    return TxPool(net.suite, net.genesis.chain_id, head_height=lambda: head[0], is_committed=lambda h: False,
                  nonce_used=lambda s, n: (s, n) in used, expiry_window=lambda: 1000, max_tx_bytes=lambda: 1 << 20,
                  limits=PoolLimits(capacity=DROPPED_MEMORY * 2, per_sender=DROPPED_MEMORY * 2))


def _checked(net, expiry: int = 50, fuel: int = 1_000_000, nonce: bytes | None = None):
    tx = net.tx(net.user, expiry_height=expiry, fuel_limit=fuel, nonce=nonce)
    return check_transaction(net.suite, net.genesis.chain_id, tx, size=len(tx.encode()), verify=False)


def test_commit_drops_the_conflicts_and_the_expired_with_their_reasons():
    net = make_testnet("std")
    head = [0]
    pool = _pool(net, head)
    mine = _checked(net, nonce=b"n" * 16)
    other = _checked(net, nonce=b"m" * 16)
    short = _checked(net, expiry=3)
    for c in (mine, other, short):
        pool.add_verified(c)
    # Block 3 commits a transaction this pool never saw, with mine's (sender, nonce).
    head[0] = 3
    pool.on_commit(3, [b"x" * 32], [(mine.sender, b"n" * 16)])
    assert mine.hash not in pool and short.hash not in pool and other.hash in pool
    assert pool.dropped(mine.hash).reason == DROP_NONCE_USED and pool.dropped(mine.hash).height == 3
    assert pool.dropped(short.hash).reason == DROP_EXPIRED
    assert pool.dropped(other.hash) is None
    pool.on_commit(4, [other.hash], [(other.sender, b"m" * 16)])  # committed: not dropped
    assert len(pool) == 0 and pool.dropped(other.hash) is None


def test_proposer_drops_are_recorded_by_cause_and_readmission_clears_them():
    net = make_testnet("std")
    head = [5]
    used: set[tuple[bytes, bytes]] = set()
    pool = _pool(net, head, used)
    expired, reused, heavy = _checked(net, expiry=6), _checked(net, nonce=b"r" * 16), _checked(net, fuel=10**9)
    for c in (expired, reused, heavy):
        pool.add_verified(c)
    used.add((reused.sender, b"r" * 16))
    pool.drop_invalid([(expired, "expired"), (reused, "nonce already used"), (heavy, "fuel_limit above max_tx_fuel")], 6)
    assert len(pool) == 0
    assert [pool.dropped(c.hash).reason for c in (expired, reused, heavy)] == [DROP_EXPIRED, DROP_NONCE_USED, DROP_INVALID]
    assert pool.dropped(heavy.hash).detail == "fuel_limit above max_tx_fuel"
    pool.add_verified(heavy)
    assert pool.dropped(heavy.hash) is None and heavy.hash in pool


def test_the_dropped_record_is_bounded_and_keeps_the_newest():
    net = make_testnet("std")
    head = [0]
    pool = _pool(net, head)
    txs = [_checked(net, expiry=2) for _ in range(DROPPED_MEMORY + 5)]
    for c in txs:
        pool.add_verified(c)
    head[0] = 2
    pool.evict_expired(2)
    remembered = [c for c in txs if pool.dropped(c.hash) is not None]
    assert len(remembered) == DROPPED_MEMORY
    assert pool.dropped(txs[-1].hash) is not None


def test_admission_refuses_a_transaction_that_cannot_enter_the_next_block():
    """Valid only in blocks below expiry_height: at head 5, expiry_height 6 could never commit."""
    net = make_testnet("std")
    pool = _pool(net, [5])
    with pytest.raises(InvalidTransaction, match="expired"):
        pool.check(net.tx(net.user, expiry_height=6).encode())
    assert pool.check(net.tx(net.user, expiry_height=7).encode()).tx.expiry_height == 7


async def test_tx_get_reports_a_dropped_transaction_over_json_rpc(tmp_path: Path):
    """This node pooled B; a block from elsewhere commits A with B's sender and nonce."""
    async with rpc_node(tmp_path / "here", run_engine=False) as n:
        net = n.net
        nonce = b"\x42" * 16
        b = net.tx(net.admin, **set_param("min_seal_ms", 8), nonce=nonce)
        a = net.tx(net.admin, **set_param("min_seal_ms", 9), nonce=nonce)
        b_hash = (await n.call("tx_send", ["0x" + b.encode().hex()]))["result"]
        assert (await n.call("tx_get", [b_hash]))["result"]["status"] == "pending"
        elsewhere = ChainStore(tmp_path / "there")
        try:
            other = Chain(net.genesis, elsewhere)
            other.submit(a.encode())
            block = seal(other, net.validator)
            n.chain.commit(block, other.store.get_certificate(1))
        finally:
            elsewhere.close()
        got = (await n.call("tx_get", {"hash": b_hash}))["result"]
        assert got == {"hash": b_hash, "status": "dropped", "reason": "nonce_used", "height": 1,
                       "detail": "another transaction of the same sender with the same nonce committed in block 1"}
        assert len(n.chain.pool) == 0
        assert (await n.call("tx_getReceipt", [b_hash]))["result"] is None
        # The SDK stops waiting for a receipt that can never come, instead of timing out.
        from node.sdk import RpcClient, TransactionDropped

        async with RpcClient(n.url) as client:
            started = asyncio.get_running_loop().time()
            with pytest.raises(TransactionDropped, match="nonce_used"):
                await client.wait_for_receipt(b_hash, timeout=30)
            assert asyncio.get_running_loop().time() - started < 5
