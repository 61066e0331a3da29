"""LevelDB's levels and compaction work as metrics, read at scrape time from the store.

Compaction runs in LevelDB's own thread, outside Python's view: its CPU shows only in the
process's total, and its debt only as commits that slow down. These series make both visible
(docs/metrics.md, "Execution and storage"; docs/operations.md on what to do about it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.store.dbstats import LevelStats

# (series, help, kind, the LevelStats field); counters without their _total
SERIES = (
    ("consortia_store_level_files", "LevelDB table files in a level now.", "gauge", "files"),
    ("consortia_store_level_bytes", "Bytes of LevelDB tables in a level now (1 MiB resolution).", "gauge", "size_bytes"),
    ("consortia_store_compaction_seconds", "Seconds LevelDB spent compacting into a level since the node started.",
     "counter", "compaction_seconds"),
    ("consortia_store_compaction_read_bytes", "Bytes LevelDB read to compact into a level since the node started "
     "(1 MiB resolution).", "counter", "compaction_read_bytes"),
    ("consortia_store_compaction_written_bytes", "Bytes LevelDB wrote compacting into a level since the node started "
     "(1 MiB resolution).", "counter", "compaction_written_bytes"),
)


class StoreStatsCollector(Collector):
    """One family per series, one sample per level LevelDB lists, from ``read()``."""

    def __init__(self, read: Callable[[], list[LevelStats]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        levels = self._read()
        for name, documentation, kind, field_name in SERIES:
            family: GaugeMetricFamily | CounterMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, documentation, labels=["level"])
            else:
                family = GaugeMetricFamily(name, documentation, labels=["level"])
            for row in levels:
                family.add_metric([str(row.level)], getattr(row, field_name))
            yield family
