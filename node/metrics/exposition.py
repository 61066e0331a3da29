"""A registry as the scraper asked for it (Prometheus text, or OpenMetrics by ``Accept``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The body and its Content-Type for a scrape with ``accept`` as its Accept header."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
