"""Block size and the limits around it: no client can make a block the network cannot carry.

A block's transactions are bounded by the on-chain ``max_block_bytes``, checked when a block is
proposed and when it is validated; the chain's limits are checked against each other at genesis
and at every parameter change; the peer-to-peer frame limit follows from them."""

from __future__ import annotations

import asyncio

import pytest

from node.chain import Chain
from node.errors import ConfigError, ConsensusError
from node.params import (
    MAX_FRAME_CEILING,
    PARAMS,
    ChainParamError,
    ChainParams,
    check_consistency,
    largest_frame_bytes,
)
from node.store.chainstore import ChainStore
from node.wire import codec
from tests.conftest import make_testnet, set_param
from tests.unit.test_chain import seal

SMALL = {"max_block_bytes": 65_536, "max_tx_bytes": 60_000, "max_code_bytes": 50_000}


def _defaults(**changes: int) -> ChainParams:
    return ChainParams(**{**{name: spec.default for name, spec in PARAMS.items()}, **changes})


def test_the_defaults_fit_together_and_a_full_size_contract_can_be_deployed(testnet, tmp_path):
    check_consistency(_defaults(), 4)
    store = ChainStore(tmp_path / "d")
    try:
        chain = Chain(testnet.genesis, store)
        code = b"\x00asm" + bytes(chain.params().max_code_bytes - 4)
        deploy = testnet.tx(testnet.admin, to=b"", method="deploy", args={"code": code}, fuel_limit=400_000_000)
        assert len(deploy.encode()) <= chain.params().max_tx_bytes
        chain.submit(deploy.encode())  # admitted: before, max_code_bytes == max_tx_bytes made this impossible
    finally:
        store.close()


@pytest.mark.parametrize(
    ("changes", "validators", "message"),
    [
        ({"max_code_bytes": 600_000, "max_tx_bytes": 600_000}, 4, "could never be deployed"),
        ({"max_tx_bytes": 1_000_000, "max_block_bytes": 500_000}, 4, "would fit in no block"),
        ({"max_block_bytes": 32 * 1024 * 1024, "pbft_window": 32}, 4, "ceiling"),
        ({"max_block_bytes": 8 * 1024 * 1024}, 100, "ceiling"),
    ],
)
def test_contradicting_limits_are_refused(changes, validators, message):
    with pytest.raises(ChainParamError, match=message):
        check_consistency(_defaults(**changes), validators)


def test_genesis_with_contradicting_limits_is_refused():
    net = make_testnet("std", params={"max_tx_bytes": 100_000})  # below the default max_code_bytes
    with pytest.raises(ConfigError, match="genesis parameters: max_code_bytes"):
        net.genesis.block()
    raw = net.genesis.to_json()
    from node.genesis import Genesis

    with pytest.raises(ConfigError, match="could never be deployed"):
        Genesis.from_json(raw)


def test_a_parameter_change_that_contradicts_another_fails_its_transaction(testnet, tmp_path):
    store = ChainStore(tmp_path / "d")
    try:
        chain = Chain(testnet.genesis, store)
        bad = testnet.tx(testnet.admin, **set_param("max_tx_bytes", 300_000))
        good = testnet.tx(testnet.admin, **set_param("max_block_bytes", 4 * 1024 * 1024))
        bad_hash, good_hash = chain.submit(bad.encode()), chain.submit(good.encode())
        seal(chain, testnet.validator)
        receipts = {r.tx_hash: r for r in chain.store.receipts_at(1)}
        assert not receipts[bad_hash].ok and "could never be deployed" in receipts[bad_hash].error
        assert receipts[good_hash].ok
        assert chain.params().max_tx_bytes == PARAMS["max_tx_bytes"].default
        assert chain.params().max_block_bytes == 4 * 1024 * 1024
    finally:
        store.close()


def _blob_tx(net, size: int):
    return net.tx(net.admin, method="get", args={"key": "block_tx_limit", "pad": b"x" * size})


def test_a_proposal_carries_no_more_than_max_block_bytes(tmp_path):
    net = make_testnet("std", params=SMALL)
    store = ChainStore(tmp_path / "d")
    try:
        chain = Chain(net.genesis, store)
        txs = [_blob_tx(net, 20_000) for _ in range(10)]
        for tx in txs:
            chain.submit(tx.encode())
        sizes = []
        while chain.pool:
            block = seal(chain, net.validator)
            assert block.txs
            sizes.append(sum(len(t.encode()) for t in block.txs))
        assert max(sizes) <= SMALL["max_block_bytes"] and len(sizes) >= 4
        assert sum(len(b.txs) for b in (chain.store.get_block(h) for h in range(1, chain.height + 1)) if b) == 10
    finally:
        store.close()


def test_a_block_over_max_block_bytes_is_refused_by_validators(tmp_path, monkeypatch):
    net = make_testnet("std", params=SMALL)
    a_store, b_store = ChainStore(tmp_path / "a"), ChainStore(tmp_path / "b")
    try:
        a, b = Chain(net.genesis, a_store), Chain(net.genesis, b_store)
        for _ in range(5):
            a.submit(_blob_tx(net, 20_000).encode())
        import node.chain as chain_module

        monkeypatch.setattr(chain_module, "within_block_bytes", lambda candidates, budget: candidates)  # a Byzantine proposer
        head = a.head()
        proposal = a.propose(height=1, view=0, proposer=net.validator.public_bytes, timestamp_ms=head.timestamp_ms + 1, max_txs=100)
        assert len(proposal.block.txs) == 5
        with pytest.raises(ConsensusError, match="over max_block_bytes"):
            b.validate(proposal.block)
    finally:
        a_store.close()
        b_store.close()


def test_the_frame_limit_follows_the_parameters_and_carries_the_largest_message():
    """PBFT's NEW-VIEW (2f+1 view changes, each with a full window of prepared blocks) is the
    largest honest message; the frame limit grows with the blocks and the window."""
    from consensus.pbft.messages import NewView, PreparedCert, ViewChange, encode_message
    from node.wire.types import Block, BlockHeader, Transaction, Vote

    params = _defaults(max_block_bytes=256 * 1024, pbft_window=2, max_tx_bytes=200_000, max_code_bytes=100_000)
    n = 4
    limit = largest_frame_bytes(params, n)
    assert largest_frame_bytes(_defaults(), 4) < 40 * 1024 * 1024 < MAX_FRAME_CEILING
    assert largest_frame_bytes(_defaults(max_block_bytes=4 * 1024 * 1024), 4) > largest_frame_bytes(_defaults(), 4)
    # Build the largest NEW-VIEW these parameters allow and check it fits.
    tx = Transaction(chain_id="c", nonce=bytes(16), expiry_height=9, sender_pubkey=b"k" * 32, to=bytes(20), method="m",
                     args=b"a" * (params.max_block_bytes - 400), fuel_limit=1, signature=b"s" * 64)
    header = BlockHeader(chain_id="c", height=1, parent_hash=bytes(32), timestamp_ms=1, proposer=b"p" * 32, view=0,
                         tx_count=1, tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    block = Block(header=header, txs=(tx,)).encode()
    assert len(block) <= params.max_block_bytes + 2_000
    votes = tuple(Vote(bytes([i]) * 32, b"s" * 64) for i in range(3))
    vc = ViewChange(1, 1, tuple(PreparedCert(0, block, votes) for _ in range(params.pbft_window)), b"v" * 32, b"s" * 64)
    nv = NewView(1, 1, (vc, vc, vc), b"v" * 32, b"s" * 64)
    framed = codec.encode({"t": "cons", "m": encode_message(nv)})
    assert len(framed) <= limit


def test_forwarded_transactions_are_batched_by_bytes(tmp_path):
    from node.devnet import free_port
    from node.p2p.certs import make_ca, write_node_tls
    from node.p2p.service import MAX_FORWARD_BATCH, NetworkService

    net = make_testnet("std", params=SMALL)
    store = ChainStore(tmp_path / "d")
    try:
        chain = Chain(net.genesis, store)
        write_node_tls(tmp_path, make_ca("test"), "v", net.validator.public_bytes)
        service = NetworkService(chain, net.validator, tmp_path, "127.0.0.1", free_port())
        raws = [b"x" * 20_000] * 10 + [b"y" * 10] * (MAX_FORWARD_BATCH + 5)
        batches = service._batches(raws)
        assert [x for b in batches for x in b] == raws
        assert all(sum(map(len, b)) <= SMALL["max_block_bytes"] or len(b) == 1 for b in batches)
        assert all(len(b) <= MAX_FORWARD_BATCH for b in batches)
        assert service.frame_limit() == largest_frame_bytes(chain.params(), 1)
    finally:
        store.close()


async def test_a_frame_over_the_derived_limit_is_never_sent_and_closes_a_link_that_receives_one(tmp_path):
    from node.crypto import get_suite
    from node.p2p.certs import make_ca
    from tests.unit.test_p2p import Peer, until

    suite = get_suite("std")
    ca = make_ca("test")
    directory: list = []
    limit = [10_000]
    a = Peer(tmp_path, "a", ca, suite, directory, max_frame_bytes=lambda: limit[0])
    b = Peer(tmp_path, "b", ca, suite, directory)
    directory += [a.address(), b.address()]
    na, nb = a.network(), b.network()
    await na.start()
    await nb.start()
    try:
        assert await until(lambda: len(na.links) == 1 and len(nb.links) == 1)
        na.broadcast({"t": "status", "pad": b"x" * 20_000})  # over a's own limit: not sent
        assert na.oversized_out == 1
        nb.send(a.key.public_bytes, {"t": "status", "pad": b"x" * 20_000})  # b's default limit lets it out
        assert await until(lambda: na.closed_for_abuse == 1)
        limit[0] = 100_000  # the chain's parameters changed: the limit follows at once
        assert await until(lambda: len(na.links) == 1 and len(nb.links) == 1, timeout=15)
        nb.send(a.key.public_bytes, {"t": "status", "pad": b"x" * 20_000})
        assert await until(lambda: any(m.get("pad") for _, m in a.inbox))
        await asyncio.sleep(0)
    finally:
        await na.stop()
        await nb.stop()
