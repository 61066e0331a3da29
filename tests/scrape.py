"""Reading a node's /metrics in tests: the Prometheus text parsed into samples."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: sample values by (sample name, sorted label pairs), and each family's type."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    types: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return cls(samples, types)

    @property
    def names(self) -> set[str]:
        """Every sample name (``x_total``, ``h_bucket``, ``h_count``, ...) present."""
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def total(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over every label set that includes ``labels`` (0 if none)."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))


async def scrape(session: aiohttp.ClientSession, url: str) -> Scrape:
    async with session.get(url.rstrip("/") + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200, resp.status
        return Scrape.parse(await resp.text())
