"""NodeMetrics counts what the bus says happened, and nothing else; each node has its own registry."""

from __future__ import annotations

from prometheus_client import generate_latest

from node.events import (
    BlockCommitted,
    BlockTiming,
    ConnectionRefused,
    EventBus,
    PeerConnected,
    PeerDisconnected,
    PeerRefused,
    SyncProgress,
    TxAdmitted,
    TxRejected,
    ViewChanged,
)
from node.metrics import NodeMetrics
from node.metrics.latency import AdmissionTimes
from node.metrics.traffic import PeerTrafficCollector
from node.p2p.transport import PeerTraffic
from node.wire.types import Block, BlockHeader
from tests.conftest import make_testnet
from tests.scrape import Scrape


def _block(height: int, txs: tuple = (), timestamp_ms: int = 0) -> Block:
    header = BlockHeader(chain_id="c", height=height, parent_hash=bytes(32), timestamp_ms=timestamp_ms, proposer=b"p", view=0,
                         tx_count=len(txs), tx_root=bytes(32), receipt_root=bytes(32), state_root=bytes(32))
    return Block(header=header, txs=txs)


def _scrape(metrics: NodeMetrics) -> Scrape:
    return Scrape.parse(generate_latest(metrics.registry).decode())


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_counters_follow_bus_events():
    bus = EventBus()
    metrics = NodeMetrics(bus, p2p=True, process=False)
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
    bus.publish(TxAdmitted(b"t" * 32, b"raw", True))
    bus.publish(TxAdmitted(b"u" * 32, b"raw", False))
    bus.publish(TxRejected("duplicate_transaction", False))
    bus.publish(TxRejected("bad_signature", True))
    assert (metrics.blocks_committed, metrics.txs_committed, metrics.blocks_synced) == (2, 2, 7)
    got = _scrape(metrics)
    assert got.value("consortia_p2p_peers") == 1
    assert got.value("consortia_p2p_refused_total") == 3
    assert got.value("consortia_p2p_refused_by_reason_total", reason="no_client_cert") == 2
    assert got.value("consortia_p2p_refused_by_reason_total", reason="wrong_chain") == 1
    assert got.value("consortia_p2p_closed_for_abuse_total") == 2
    assert got.value("consortia_sync_blocks_total") == 7
    assert got.value("consortia_view_changes_total") == 1
    assert got.value("consortia_connections_refused_total", listener="p2p", reason="fd_reserve") == 1
    assert got.value("consortia_connections_refused_total", listener="rpc", reason="handshake_timeout") == 2
    assert got.value("consortia_txpool_admitted_total", source="client") == 1
    assert got.value("consortia_txpool_admitted_total", source="peer") == 1
    assert got.value("consortia_txpool_rejected_total") == 2
    assert got.value("consortia_txpool_rejected_by_reason_total", reason="duplicate_transaction", source="peer") == 1
    assert got.value("consortia_txpool_rejected_by_reason_total", reason="bad_signature", source="client") == 1
    metrics.close()
    bus.publish(BlockCommitted(_block(3), bytes(32), (), None))
    assert metrics.blocks_committed == 2 and bus.subscriber_count(BlockCommitted) == 0


def test_without_p2p_no_peer_series_but_still_counts():
    bus = EventBus()
    metrics = NodeMetrics(bus, process=False)
    bus.publish(SyncProgress(applied=3, height=3, target=3))
    bus.publish(BlockCommitted(_block(1), bytes(32), (), None))
    bus.publish(PeerRefused("wrong chain", abuse=False, code="wrong_chain"))
    got = _scrape(metrics)
    assert not any(name.startswith("consortia_p2p_") for name in got.types)
    assert metrics.blocks_synced == 3 and metrics.blocks_committed == 1


def test_latencies_and_block_timings_are_observed():
    bus = EventBus()
    clock, wall = Clock(100.0), Clock(1_000.0)
    metrics = NodeMetrics(bus, process=False, clock=clock, wall=wall)
    bus.publish(TxAdmitted(b"x" * 32, b"raw", True))
    bus.publish(TxAdmitted(b"y" * 32, b"raw", False))
    clock.t = 100.3
    timing = BlockTiming(execute_seconds=0.002, store_seconds=0.04)
    bus.publish(BlockCommitted(_block(1, timestamp_ms=999_800), bytes(32), (), None, tx_hashes=(b"x" * 32, b"z" * 32), timing=timing))
    got = _scrape(metrics)
    assert got.value("consortia_tx_commit_latency_seconds_count") == 1  # z was never admitted here
    assert got.value("consortia_tx_commit_latency_seconds_bucket", le="0.25") == 0
    assert got.value("consortia_tx_commit_latency_seconds_bucket", le="0.5") == 1
    assert got.value("consortia_consensus_round_seconds_bucket", le="0.1") == 0
    assert got.value("consortia_consensus_round_seconds_bucket", le="0.25") == 1  # proposed 0.2 s before it committed here
    assert got.value("consortia_block_execution_seconds_bucket", le="0.0025") == 1
    assert got.value("consortia_block_store_seconds_bucket", le="0.025") == 0
    assert got.value("consortia_block_store_seconds_bucket", le="0.05") == 1
    assert metrics.tracked_txs == 1  # y is still waiting for its block
    bus.publish(BlockCommitted(_block(2, timestamp_ms=0), bytes(32), (), None, catchup=True))
    got = _scrape(metrics)
    assert got.value("consortia_consensus_round_seconds_count") == 1  # a caught-up block is no round
    assert got.value("consortia_blocks_committed_total") == 2


def test_admission_times_are_bounded():
    times = AdmissionTimes(limit=3)
    for i in range(5):
        times.admitted(bytes([i]), float(i))
    times.admitted(bytes([4]), 99.0)  # a second admission of the same hash keeps the first time
    assert len(times) == 3 and times.forgotten == 2
    assert times.committed(bytes([0])) is None and times.committed(bytes([4])) == 4.0 and len(times) == 2


def test_peer_traffic_and_watched_values_are_read_when_scraped():
    bus = EventBus()
    metrics = NodeMetrics(bus, p2p=True, process=False)
    traffic = {"validator-1": PeerTraffic(frames_in=3, bytes_in=300)}
    metrics.add_collector(PeerTrafficCollector(lambda: traffic))
    height = [5]
    metrics.watch("consortia_block_height", "Height.", lambda: height[0])
    metrics.watch("consortia_consensus_view", "View.", lambda: None)
    got = _scrape(metrics)
    assert got.value("consortia_p2p_received_bytes_total", peer="validator-1") == 300
    assert got.value("consortia_p2p_received_messages_total", peer="validator-1") == 3
    assert got.value("consortia_block_height") == 5 and "consortia_consensus_view" not in got.names
    traffic["validator-1"].bytes_in += 50
    traffic["validator-2"] = PeerTraffic(frames_out=1, bytes_out=10)
    height[0] = 6
    metrics.watch("consortia_block_height", "Height.", lambda: height[0] * 10)  # replaces, never duplicates
    got = _scrape(metrics)
    assert got.value("consortia_p2p_received_bytes_total", peer="validator-1") == 350
    assert got.value("consortia_p2p_sent_bytes_total", peer="validator-2") == 10
    assert got.value("consortia_block_height") == 60


def test_a_watched_reading_may_use_the_counters():
    """An observer's engine status (watched for the view) reports blocks_synced: reading it must
    not collect the registry again (that recursed without end)."""
    bus = EventBus()
    metrics = NodeMetrics(bus, process=False)
    bus.publish(SyncProgress(applied=4, height=4, target=4))
    metrics.watch("consortia_consensus_view", "View.", lambda: {"synced_blocks": metrics.blocks_synced}.get("view"))
    metrics.watch("consortia_test_synced", "Synced.", lambda: metrics.blocks_synced + metrics.blocks_committed)
    got = _scrape(metrics)
    assert got.value("consortia_test_synced") == 4 and "consortia_consensus_view" not in got.names


def test_a_reading_that_fails_costs_only_its_sample():
    metrics = NodeMetrics(EventBus(), process=False)
    metrics.watch("consortia_broken", "Broken.", lambda: 1 // 0)
    metrics.watch("consortia_fine", "Fine.", lambda: 3)
    got = _scrape(metrics)
    assert got.value("consortia_fine") == 3 and "consortia_broken" not in got.names


def test_registries_are_separate_and_process_series_are_there():
    one, two = NodeMetrics(EventBus()), NodeMetrics(EventBus())
    one.observe_rpc("chain_blockNumber", 0.001)
    assert one.value("consortia_rpc_calls_total", {"method": "chain_blockNumber"}) == 1
    assert two.value("consortia_rpc_calls_total", {"method": "chain_blockNumber"}) == 0
    got = _scrape(two)
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= got.names
    assert (got.value("process_resident_memory_bytes") or 0) > 0
