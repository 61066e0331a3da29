"""``NodeMetrics``: the node's registry and every counter and histogram in it, fed by bus events.

The chain, the peer layer, block sync, the listeners and the consensus adapter already say on
the bus what happened; counting it here means none of them keeps metrics of its own, and a new
series is one more subscription. Each node has its own ``CollectorRegistry`` (several in-process
test nodes never share a series). The RPC dispatcher reports calls through ``observe_rpc``
(requests are not node events); values that are a current state are read at scrape time
(``watch``, ``add_collector``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from node.events import (
    BlockCommitted,
    ConnectionRefused,
    EventBus,
    ForkDetected,
    NodeFailed,
    PeerConnected,
    PeerDisconnected,
    PeerRefused,
    SyncProgress,
    TxAdmitted,
    TxRejected,
    ViewChanged,
)
from node.metrics.latency import AdmissionTimes
from node.metrics.watch import Reading, WatchCollector, Watched

# Histogram buckets in seconds: blocks seal every few hundred ms at the default parameters and a
# view change takes seconds; one block's execution or write takes from well under 1 ms (empty)
# to about a second (a full block of contract calls on the sm suite).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BLOCK_WORK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# No ``<counter>_created`` series next to every counter and histogram: they double what is
# scraped and nothing here reads them (a library-wide switch; this package is its only user).
disable_created_metrics()


def _count(counter: Counter) -> int:
    """An unlabelled counter's value, read from that counter only."""
    return int(next(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")))


def _source(local: bool) -> str:
    return "client" if local else "peer"


class NodeMetrics:
    """Counters and histograms fed by bus events; subscribe before the node starts so nothing is missed.

    ``p2p``: the node runs peer networking, so the peer series are part of /metrics (an
    in-process test node has no network and exports none of them). ``clock`` times admission
    to commit; ``wall`` is compared with block timestamps (both injectable for tests)."""

    def __init__(self, bus: EventBus, *, p2p: bool = False, process: bool = True,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.p2p = p2p
        self.registry = CollectorRegistry()
        self.failure: str | None = None  # why the node stopped being healthy (a failed store), if it has
        self._clock = clock
        self._wall = wall
        self._admitted_at = AdmissionTimes()
        self._peers: set[bytes] = set()
        self._watch = WatchCollector()
        self.registry.register(self._watch)
        if process:  # CPU seconds, resident memory, descriptors of this process; Python's collector runs
            ProcessCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        r = self.registry
        self._blocks = Counter("consortia_blocks_committed", "Blocks committed by this node (consensus and catch-up).", registry=r)
        self._txs = Counter("consortia_txs_committed", "Transactions in the blocks committed by this node.", registry=r)
        admitted = Counter("consortia_txpool_admitted", "Transactions admitted to the pool, by where they came from.",
                           ["source"], registry=r)
        self._admitted = {local: admitted.labels(_source(local)) for local in (True, False)}  # once per tx: no label lookup
        self._rejected = Counter("consortia_txpool_rejected", "Transactions refused admission to the pool.", registry=r)
        self._rejected_by_reason = Counter("consortia_txpool_rejected_by_reason", "Transactions refused admission, by error kind "
                                           "and where they came from.", ["reason", "source"], registry=r)
        self._view_changes = Counter("consortia_view_changes", "Views (PBFT) or terms (Raft) this node's engine entered.", registry=r)
        self._synced = Counter("consortia_sync_blocks", "Certified blocks committed by catch-up from peers.", registry=r)
        self._refused_connections = Counter("consortia_connections_refused", "Connections the P2P and RPC listeners closed "
                                            "before serving them, and failed accepts.", ["listener", "reason"], registry=r)
        self._round = Histogram("consortia_consensus_round_seconds", "From a block's proposal timestamp to its commit at this "
                                "node (blocks committed in a consensus round, not by catch-up).", buckets=LATENCY_BUCKETS, registry=r)
        self._commit_latency = Histogram("consortia_tx_commit_latency_seconds", "From a transaction's admission to this node's pool "
                                         "to the commit of its block here.", buckets=LATENCY_BUCKETS, registry=r)
        self._execute = Histogram("consortia_block_execution_seconds", "Executing a committed block at this node (when proposed "
                                  "or validated).", buckets=BLOCK_WORK_BUCKETS, registry=r)
        self._store = Histogram("consortia_block_store_seconds", "Writing a committed block's batch to the store (synchronous "
                                "LevelDB write).", buckets=BLOCK_WORK_BUCKETS, registry=r)
        self._rpc_calls = Counter("consortia_rpc_calls", "JSON-RPC requests to an existing method, by method.", ["method"], registry=r)
        self._rpc_errors = Counter("consortia_rpc_errors", "JSON-RPC error responses, by error code.", ["code"], registry=r)
        self._rpc_seconds = Histogram("consortia_rpc_request_duration_seconds", "Time to answer a JSON-RPC request to an "
                                      "existing method, by method.", ["method"], buckets=RPC_BUCKETS, registry=r)
        self.watch("consortia_node_failed", "1 once the node stopped taking part after a store failure, else 0.",
                   lambda: int(self.failure is not None))
        if p2p:
            peers = Gauge("consortia_p2p_peers", "Peers with a live authenticated link.", registry=r)
            peers.set_function(lambda: len(self._peers))
            self._p2p_refused = Counter("consortia_p2p_refused", "Peers refused (every peer_refused and peer_conflict reason).",
                                        registry=r)
            self._p2p_refused_by_reason = Counter("consortia_p2p_refused_by_reason", "Peers refused, by reason.", ["reason"],
                                                  registry=r)
            self._p2p_abuse = Counter("consortia_p2p_closed_for_abuse", "Peer links closed for malformed, oversized or too many "
                                      "frames.", registry=r)
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(BlockCommitted, self._on_commit),
            bus.subscribe(TxAdmitted, self._on_admitted),
            bus.subscribe(TxRejected, self._on_rejected),
            bus.subscribe(PeerConnected, self._on_connect),
            bus.subscribe(PeerDisconnected, self._on_disconnect),
            bus.subscribe(PeerRefused, self._on_refused),
            bus.subscribe(ConnectionRefused, self._on_connection_refused),
            bus.subscribe(SyncProgress, self._on_sync),
            bus.subscribe(ViewChanged, self._on_view_change),
            bus.subscribe(NodeFailed, self._on_failed),
            bus.subscribe(ForkDetected, self._on_fork),
        ]

    # --- what others read or add ----------------------------------------------------------

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """One sample's current value by its exposed name (0 if it has none yet). It collects
        the whole registry: for tests and tools, never from a watched reading."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    @property
    def blocks_committed(self) -> int:
        return _count(self._blocks)

    @property
    def txs_committed(self) -> int:
        return _count(self._txs)

    @property
    def blocks_synced(self) -> int:
        """(``node_info`` reports it for observers, and the engine status is itself watched:
        read from the counter alone, never by collecting the registry.)"""
        return _count(self._synced)

    @property
    def peers(self) -> int:
        """Peers with a live link (a replaced link is disconnected before its successor connects)."""
        return len(self._peers)

    @property
    def tracked_txs(self) -> int:
        """Admissions waiting for their commit to be timed (bounded by ``latency.TRACKED_TXS``)."""
        return len(self._admitted_at)

    def watch(self, name: str, documentation: str, read: Reading, kind: Literal["gauge", "counter"] = "gauge") -> None:
        """Expose ``read()`` as ``name`` at every scrape (None: no sample); replaces an earlier one of that name."""
        self._watch.watch(Watched(name, documentation, read, kind))

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def observe_rpc(self, method: str, seconds: float) -> None:
        """A request to the registered ``method`` was answered (successfully or with an error) in ``seconds``."""
        self._rpc_calls.labels(method).inc()
        self._rpc_seconds.labels(method).observe(seconds)

    def rpc_error(self, code: int) -> None:
        self._rpc_errors.labels(str(code)).inc()

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # --- handlers (inline on the bus: counters only) ------------------------------------------

    def _on_commit(self, event: BlockCommitted) -> None:
        self._blocks.inc()
        self._txs.inc(len(event.block.txs))
        if event.timing is not None:
            self._execute.observe(event.timing.execute_seconds)
            self._store.observe(event.timing.store_seconds)
        if not event.catchup:  # a block fetched later was proposed long ago: that is no round time
            self._round.observe(max(0.0, self._wall() - event.block.header.timestamp_ms / 1000))
        now = self._clock()
        for tx_hash in event.tx_hashes:
            admitted = self._admitted_at.committed(tx_hash)
            if admitted is not None:
                self._commit_latency.observe(max(0.0, now - admitted))

    def _on_admitted(self, event: TxAdmitted) -> None:
        self._admitted[event.local].inc()
        self._admitted_at.admitted(event.tx_hash, self._clock())

    def _on_rejected(self, event: TxRejected) -> None:
        self._rejected.inc()
        self._rejected_by_reason.labels(event.reason, _source(event.local)).inc()

    def _on_connect(self, event: PeerConnected) -> None:
        self._peers.add(event.pubkey)

    def _on_disconnect(self, event: PeerDisconnected) -> None:
        self._peers.discard(event.pubkey)

    def _on_refused(self, event: PeerRefused) -> None:
        if not self.p2p:
            return
        if event.abuse:
            self._p2p_abuse.inc()
        else:
            self._p2p_refused.inc()
            self._p2p_refused_by_reason.labels(event.code).inc()

    def _on_connection_refused(self, event: ConnectionRefused) -> None:
        self._refused_connections.labels(event.listener, event.reason).inc()

    def _on_sync(self, event: SyncProgress) -> None:
        self._synced.inc(event.applied)

    def _on_view_change(self, event: ViewChanged) -> None:
        self._view_changes.inc()

    def _on_fork(self, event: ForkDetected) -> None:
        if self.failure is None:
            ev = event.evidence
            self.failure = (f"fork: two certified blocks at height {ev.height} "
                            f"(ours 0x{ev.ours.block_hash.hex()}, theirs 0x{ev.theirs.block_hash.hex()}); not taking part")

    def _on_failed(self, event: NodeFailed) -> None:
        if self.failure is None:
            self.failure = f"{event.component}: {event.reason}"
