"""NodeMetrics counts what the bus says happened, and nothing else."""

from __future__ import annotations

from node.events import (
    BlockCommitted,
    ConnectionRefused,
    EventBus,
    PeerConnected,
    PeerDisconnected,
    PeerRefused,
    SyncProgress,
    ViewChanged,
)
from node.metrics import NodeMetrics
from node.wire.types import Block, BlockHeader
from tests.conftest import make_testnet


def _block(height: int, txs: tuple = ()) -> Block:
    header = BlockHeader(chain_id="c", height=height, parent_hash=bytes(32), timestamp_ms=0, proposer=b"p", view=0,
                         tx_count=len(txs), tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    return Block(header=header, txs=txs)


def test_counters_follow_bus_events():
    bus = EventBus()
    metrics = NodeMetrics(bus, p2p=True)
    net = make_testnet("std")
    txs = (net.tx(), net.tx())
    bus.publish(BlockCommitted(_block(1, txs), bytes(32), (), None))
    bus.publish(BlockCommitted(_block(2), bytes(32), (), None))
    a, b = b"a" * 32, b"b" * 32
    bus.publish(PeerConnected(a, "validator"))
    bus.publish(PeerConnected(b, "observer"))
    bus.publish(PeerDisconnected(a, "replaced by a new connection"))
    bus.publish(PeerConnected(a, "validator"))  # the replacement link
    bus.publish(PeerDisconnected(b, "closed by peer"))
    bus.publish(PeerRefused("wrong chain", abuse=False, code="wrong_chain"))
    bus.publish(PeerRefused("no client certificate", abuse=False, code="no_client_cert"))
    bus.publish(PeerRefused("no client certificate", abuse=False, code="no_client_cert"))
    bus.publish(ConnectionRefused("p2p", "fd_reserve"))
    bus.publish(ConnectionRefused("rpc", "handshake_timeout"))
    bus.publish(ConnectionRefused("rpc", "handshake_timeout"))
    bus.publish(PeerRefused("abuse", abuse=True))
    bus.publish(PeerRefused("abuse", abuse=True))
    bus.publish(SyncProgress(applied=5, height=7, target=9))
    bus.publish(SyncProgress(applied=2, height=9, target=9))
    bus.publish(ViewChanged(view=1, height=3))
    assert (metrics.blocks_committed, metrics.txs_committed) == (2, 2)
    assert metrics.p2p_samples() == {
        "consortia_p2p_peers": 1,
        "consortia_p2p_refused_total": 3,
        "consortia_p2p_closed_for_abuse_total": 2,
        "consortia_sync_blocks_total": 7,
        "consortia_view_changes_total": 1,
        'consortia_p2p_refused_by_reason_total{reason="no_client_cert"}': 2,
        'consortia_p2p_refused_by_reason_total{reason="wrong_chain"}': 1,
    }
    assert metrics.connection_samples() == {
        'consortia_connections_refused_total{listener="p2p",reason="fd_reserve"}': 1,
        'consortia_connections_refused_total{listener="rpc",reason="handshake_timeout"}': 2,
    }
    metrics.close()
    bus.publish(BlockCommitted(_block(3), bytes(32), (), None))
    assert metrics.blocks_committed == 2 and bus.subscriber_count(BlockCommitted) == 0


def test_without_p2p_no_peer_samples_but_still_counts():
    bus = EventBus()
    metrics = NodeMetrics(bus)
    bus.publish(SyncProgress(applied=3, height=3, target=3))
    bus.publish(BlockCommitted(_block(1), bytes(32), (), None))
    assert metrics.p2p_samples() == {}
    assert metrics.blocks_synced == 3 and metrics.blocks_committed == 1
