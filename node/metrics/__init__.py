"""The node's Prometheus metrics: one ``CollectorRegistry`` per node, fed from the event bus.

``NodeMetrics`` (``node.metrics.bus``) subscribes to the bus and keeps every counter and
histogram; what is a current value rather than a count (height, pool size, the engine's view,
open connections, peer traffic the transport counts anyway) is read when scraped, through
callbacks registered with ``NodeMetrics.watch`` and ``NodeMetrics.add_collector``.
``render`` (``node.metrics.exposition``) writes a registry in the format the scraper asks for.
The series are listed in docs/metrics.md.
"""

from node.metrics.bus import NodeMetrics
from node.metrics.exposition import render

__all__ = ["NodeMetrics", "render"]
