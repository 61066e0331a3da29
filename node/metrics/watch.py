"""Current values read when scraped: one collector for gauges and counters kept elsewhere.

Some numbers are a state, not a stream of events (the head height, the pool's size, the
engine's view, open connections); some are counted anyway by the part that does the work and
must not be counted twice (the transport's per-peer traffic). They are read by callbacks at
scrape time instead of being copied into metrics objects on every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("consortia.metrics")

Reading = Callable[[], float | int | None]


@dataclass(frozen=True)
class Watched:
    """One series read by ``read`` (None: no sample now, e.g. no engine on an observer)."""

    name: str  # the exposed name; a counter's ends in ``_total``
    documentation: str
    read: Reading
    kind: Literal["gauge", "counter"] = "gauge"


class WatchCollector(Collector):
    """Exposes every ``Watched`` series; a series watched again under its name replaces the old one."""

    def __init__(self) -> None:
        self._watched: dict[str, Watched] = {}
        self._failed: set[str] = set()  # readings that raised (logged once each)

    def watch(self, watched: Watched) -> None:
        self._watched[watched.name] = watched

    def collect(self) -> Iterator[Metric]:
        for w in list(self._watched.values()):
            try:
                value = w.read()
            except Exception:  # one broken reading costs its sample, not the whole scrape
                if w.name not in self._failed:
                    self._failed.add(w.name)
                    log.exception("event=metric_read_failed name=%s", w.name)
                continue
            if value is None:
                continue
            if w.kind == "counter":
                yield CounterMetricFamily(w.name.removesuffix("_total"), w.documentation, value=value)
            else:
                yield GaugeMetricFamily(w.name, w.documentation, value=value)
