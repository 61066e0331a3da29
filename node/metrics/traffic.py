"""Per-peer traffic as counters, read from the transport's own tally (``PeerTraffic``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from node.p2p.transport import PeerTraffic

# (series without _total, help, the PeerTraffic field)
SERIES = (
    ("consortia_p2p_received_bytes", "Frame bytes received from a peer (length prefix included).", "bytes_in"),
    ("consortia_p2p_sent_bytes", "Frame bytes sent to a peer (length prefix included).", "bytes_out"),
    ("consortia_p2p_received_messages", "Frames received from a peer (keepalives included).", "frames_in"),
    ("consortia_p2p_sent_messages", "Frames sent to a peer (keepalives included).", "frames_out"),
    ("consortia_p2p_dropped_messages", "Frames not sent to a peer because its send queue was full.", "dropped_out"),
)


class PeerTrafficCollector(Collector):
    """One counter per series and peer name, from ``traffic()`` (the transport's map by peer name)."""

    def __init__(self, traffic: Callable[[], Mapping[str, PeerTraffic]]) -> None:
        self._traffic = traffic

    def collect(self) -> Iterator[Metric]:
        by_peer = sorted(self._traffic().items())
        for name, documentation, field_name in SERIES:
            family = CounterMetricFamily(name, documentation, labels=["peer"])
            for peer, traffic in by_peer:
                family.add_metric([peer], getattr(traffic, field_name))
            yield family
