"""Node-level counters for /metrics, kept from the event bus.

The chain, the peer layer, block sync and the consensus adapter already say what happened on
the bus; counting it here means none of them (nor the RPC server) keeps metrics of its own, and
a new counter is one more subscription.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from node.events import (
    BlockCommitted,
    ConnectionRefused,
    EventBus,
    NodeFailed,
    PeerConnected,
    PeerDisconnected,
    PeerRefused,
    SyncProgress,
    ViewChanged,
)


class NodeMetrics:
    """Counters fed by bus events; subscribe before the node starts so nothing is missed.

    ``p2p``: the node runs peer networking, so the peer and sync samples are part of /metrics
    (an in-process test node has no network and prints none of them)."""

    def __init__(self, bus: EventBus, *, p2p: bool = False) -> None:
        self.p2p = p2p
        self.blocks_committed = 0
        self.txs_committed = 0
        self.refused = 0
        self.refused_by_reason: Counter[str] = Counter()  # PeerRefused.code of peers refused
        self.connections_refused: Counter[tuple[str, str]] = Counter()  # (listener, reason)
        self.closed_for_abuse = 0
        self.blocks_synced = 0
        self.view_changes = 0
        self.failure: str | None = None  # why the node stopped being healthy (a failed store), if it has
        self._peers: set[bytes] = set()
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(BlockCommitted, self._on_commit),
            bus.subscribe(PeerConnected, self._on_connect),
            bus.subscribe(PeerDisconnected, self._on_disconnect),
            bus.subscribe(PeerRefused, self._on_refused),
            bus.subscribe(ConnectionRefused, self._on_connection_refused),
            bus.subscribe(SyncProgress, self._on_sync),
            bus.subscribe(ViewChanged, self._on_view_change),
            bus.subscribe(NodeFailed, self._on_failed),
        ]

    @property
    def peers(self) -> int:
        """Peers with a live link (a replaced link is disconnected before its successor connects)."""
        return len(self._peers)

    def p2p_samples(self) -> dict[str, int]:
        """The peer and sync samples of /metrics by name (none without peer networking)."""
        if not self.p2p:
            return {}
        samples = {
            "consortia_p2p_peers": self.peers,
            "consortia_p2p_refused_total": self.refused,
            "consortia_p2p_closed_for_abuse_total": self.closed_for_abuse,
            "consortia_sync_blocks_total": self.blocks_synced,
            "consortia_view_changes_total": self.view_changes,
        }
        for reason, n in sorted(self.refused_by_reason.items()):
            samples[f'consortia_p2p_refused_by_reason_total{{reason="{reason}"}}'] = n
        return samples

    def connection_samples(self) -> dict[str, int]:
        """Connections the P2P and RPC listeners closed before serving them, by listener and reason."""
        return {f'consortia_connections_refused_total{{listener="{listener}",reason="{reason}"}}': n
                for (listener, reason), n in sorted(self.connections_refused.items())}

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # --- handlers (inline on the bus: counters only) ------------------------------------------

    def _on_commit(self, event: BlockCommitted) -> None:
        self.blocks_committed += 1
        self.txs_committed += len(event.block.txs)

    def _on_connect(self, event: PeerConnected) -> None:
        self._peers.add(event.pubkey)

    def _on_disconnect(self, event: PeerDisconnected) -> None:
        self._peers.discard(event.pubkey)

    def _on_refused(self, event: PeerRefused) -> None:
        if event.abuse:
            self.closed_for_abuse += 1
        else:
            self.refused += 1
            self.refused_by_reason[event.code] += 1

    def _on_connection_refused(self, event: ConnectionRefused) -> None:
        self.connections_refused[(event.listener, event.reason)] += 1

    def _on_sync(self, event: SyncProgress) -> None:
        self.blocks_synced += event.applied

    def _on_view_change(self, event: ViewChanged) -> None:
        self.view_changes += 1

    def _on_failed(self, event: NodeFailed) -> None:
        if self.failure is None:
            self.failure = f"{event.component}: {event.reason}"
