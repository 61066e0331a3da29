"""Pool bookkeeping: per-sender queues survive out-of-order removal, expiry evicts exactly the stale."""

from __future__ import annotations

from node.txcheck import check_transaction
from node.txpool import PoolLimits, TxPool
from tests.conftest import make_testnet


def _pool(net) -> TxPool:
    return TxPool(net.suite, net.genesis.chain_id, head_height=lambda: 0, is_committed=lambda h: False,
                  nonce_used=lambda s, n: False, expiry_window=lambda: 1000, max_tx_bytes=lambda: 1 << 20,
                  limits=PoolLimits(capacity=1000, per_sender=1000))


def _checked(net, key, expiry: int):
    tx = net.tx(key, expiry_height=expiry)
    return check_transaction(net.suite, net.genesis.chain_id, tx, size=len(tx.encode()), verify=False)


def test_removal_in_any_order_keeps_queues_consistent():
    net = make_testnet("std")
    pool = _pool(net)
    a = [_checked(net, net.user, 50) for _ in range(6)]
    b = [_checked(net, net.admin, 50) for _ in range(3)]
    for c in a + b:
        pool.add_verified(c)
    pool.remove([a[0].hash, a[1].hash])  # the usual case: the oldest of a sender
    pool.remove([a[3].hash, b[1].hash])  # and out of order
    selected = pool.select(100)
    assert [c.hash for c in selected if c.sender == a[0].sender] == [a[2].hash, a[4].hash, a[5].hash]
    assert [c.hash for c in selected if c.sender == b[0].sender] == [b[0].hash, b[2].hash]
    pool.remove([c.hash for c in selected])
    assert len(pool) == 0 and pool.select(10) == []


def test_evict_expired_removes_exactly_the_stale():
    net = make_testnet("std")
    pool = _pool(net)
    txs = {h: [_checked(net, net.user, h) for _ in range(3)] for h in (5, 7, 9)}
    for group in txs.values():
        for c in group:
            pool.add_verified(c)
    pool.remove([txs[7][0].hash])  # committed earlier: its bucket entry is skipped later
    # After block h only transactions valid in block h + 1 stay: expiry_height > h + 1.
    assert pool.evict_expired(3) == 0
    assert pool.evict_expired(6) == 5
    assert sorted(c.hash for c in pool.select(100)) == sorted(c.hash for c in txs[9])
    late = _checked(net, net.user, 8)  # arrives after those heights were evicted
    pool.add_verified(late)
    assert pool.evict_expired(7) == 1 and late.hash not in pool
    assert pool.evict_expired(100) == 3 and len(pool) == 0


def test_committed_transactions_are_not_held_until_their_expiry_height():
    """The pool's memory follows what it holds: a transaction that leaves the pool leaves its
    expiry bucket too (they were once kept until the expiry height passed, so with a long expiry
    window a node held every transaction admitted in the window)."""
    net = make_testnet("std")
    pool = _pool(net)
    for _round in range(5):
        batch = [_checked(net, net.user, 900 + i % 3) for i in range(40)]
        for c in batch:
            pool.add_verified(c)
        pool.remove([c.hash for c in batch])  # committed
    assert len(pool) == 0 and pool._by_expiry == {}
    assert sorted(pool._expiry_heap) == [900, 901, 902]  # each height once, however often it was used
    keep = _checked(net, net.user, 901)
    pool.add_verified(keep)
    assert pool._by_expiry == {901: {keep.hash}} and sorted(pool._expiry_heap) == [900, 901, 902]
    assert pool.evict_expired(901) == 1 and pool._expiry_heap == [] and pool._by_expiry == {}
