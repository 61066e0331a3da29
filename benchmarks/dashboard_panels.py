"""The Grafana dashboard's panels, defined once: written as dashboard JSON (with PromQL) and
evaluated in Python over a series of scrapes (for the rendered picture, where no Grafana runs).

Each panel is one of three query shapes, so that the PromQL and the Python evaluation cannot
drift apart:

- ``value``:    ``sum by (<by>) (<metric>{instance=~"$instance"})``
- ``rate``:     ``sum by (<by>) (rate(<metric>{instance=~"$instance"}[$__rate_interval]))``
- ``quantile``: ``histogram_quantile(<q>, sum by (<by>, le) (rate(<metric>_bucket{instance=~"$instance"}[$__rate_interval])))``
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DASHBOARD_JSON = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "consortia-dashboard.json"
SELECTOR = '{instance=~"$instance"}'

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Panel:
    title: str
    shape: Literal["value", "rate", "quantile"]
    metric: str  # a histogram's family name for ``quantile``
    unit: str  # Grafana unit id
    by: tuple[str, ...] = ("instance",)
    q: float = 0.99
    description: str = ""

    def expr(self) -> str:
        by = ", ".join(self.by)
        if self.shape == "value":
            return f"sum by ({by}) ({self.metric}{SELECTOR})"
        if self.shape == "rate":
            return f"sum by ({by}) (rate({self.metric}{SELECTOR}[$__rate_interval]))"
        return f"histogram_quantile({self.q}, sum by ({by}, le) (rate({self.metric}_bucket{SELECTOR}[$__rate_interval])))"

    def legend(self) -> str:
        return " ".join("{{" + label + "}}" for label in self.by)


PANELS = (
    Panel("Block height", "value", "consortia_block_height", "none"),
    Panel("Committed transactions / s", "rate", "consortia_txs_committed_total", "ops"),
    Panel("Committed blocks / s", "rate", "consortia_blocks_committed_total", "ops"),
    Panel("Pool size", "value", "consortia_txpool_size", "none"),
    Panel("Pool rejections / s by reason", "rate", "consortia_txpool_rejected_by_reason_total", "ops", by=("reason",)),
    Panel("Transaction admission → commit, p99", "quantile", "consortia_tx_commit_latency_seconds", "s"),
    Panel("Transaction admission → commit, p50", "quantile", "consortia_tx_commit_latency_seconds", "s", q=0.5),
    Panel("Consensus round (proposal → commit), p99", "quantile", "consortia_consensus_round_seconds", "s"),
    Panel("Consensus view / term", "value", "consortia_consensus_view", "none"),
    Panel("View changes / s", "rate", "consortia_view_changes_total", "ops"),
    Panel("Heights in flight (PBFT)", "value", "consortia_consensus_heights_in_flight", "none"),
    Panel("Peers", "value", "consortia_p2p_peers", "none"),
    Panel("P2P bytes sent / s", "rate", "consortia_p2p_sent_bytes_total", "Bps"),
    Panel("P2P messages received / s", "rate", "consortia_p2p_received_messages_total", "ops"),
    Panel("RPC requests / s by method", "rate", "consortia_rpc_calls_total", "reqps", by=("method",)),
    Panel("RPC latency p99 by method", "quantile", "consortia_rpc_request_duration_seconds", "s", by=("method",)),
    Panel("RPC errors / s by code", "rate", "consortia_rpc_errors_total", "ops", by=("code",)),
    Panel("Block execution p99", "quantile", "consortia_block_execution_seconds", "s"),
    Panel("Block store write p99", "quantile", "consortia_block_store_seconds", "s"),
    Panel("Catch-up target height", "value", "consortia_sync_target_height", "none"),
    Panel("Blocks caught up / s", "rate", "consortia_sync_blocks_total", "ops"),
    Panel("CPU (cores)", "rate", "process_cpu_seconds_total", "none"),
    Panel("Resident memory", "value", "process_resident_memory_bytes", "bytes"),
    Panel("Open file descriptors", "value", "consortia_open_fds", "none"),
)

COLUMNS = 3


def dashboard() -> dict[str, object]:
    """The importable Grafana dashboard (schema 39; Prometheus data source chosen on import)."""
    panels = []
    width = 24 // COLUMNS
    for i, p in enumerate(PANELS):
        panels.append({
            "id": i + 1,
            "type": "timeseries",
            "title": p.title,
            "description": p.description,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": width, "x": (i % COLUMNS) * width, "y": (i // COLUMNS) * 8},
            "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}},
            "targets": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": p.expr(),
                         "legendFormat": p.legend(), "range": True}],
        })
    return {
        "title": "Consortia node",
        "uid": "consortia-node",
        "tags": ["consortia", "blockchain"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {},
             "hide": 0, "refresh": 1},
            {"name": "instance", "label": "Node", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(consortia_block_height, instance)", "refId": "instance"},
             "definition": "label_values(consortia_block_height, instance)", "multi": True, "includeAll": True,
             "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "refresh": 2, "sort": 1, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


def write_json(path: Path = DASHBOARD_JSON) -> None:
    path.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n")


# --- evaluating a panel over scrapes (what Prometheus would compute from the same samples) ----


def _key(labels: tuple[tuple[str, str], ...], instance: str, by: tuple[str, ...]) -> tuple[str, ...]:
    d = dict(labels, instance=instance)
    return tuple(d.get(label, "") for label in by)


def _grouped(samples: dict[str, Samples], name: str, by: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """``sum by (by) (name)`` over one scrape of every instance."""
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for instance, s in samples.items():
        for (n, labels), v in s.items():
            if n == name:
                out[_key(labels, instance, by)] += v
    return out


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over (upper bound, cumulative count) pairs (NaN if empty)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / max(count - prev_count, 1e-12)
        prev_bound, prev_count = bound, count
    return buckets[-1][0]


def evaluate(panel: Panel, scrapes: list[tuple[float, dict[str, Samples]]], window: float) -> dict[str, list[tuple[float, float]]]:
    """The panel's series (legend -> [(t, value)]) over ``scrapes``: (time, samples by instance)."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for i, (t, now) in enumerate(scrapes):
        if panel.shape == "value":
            for key, v in _grouped(now, panel.metric, panel.by).items():
                out[" ".join(key)].append((t, v))
            continue
        j = i
        while j > 0 and t - scrapes[j - 1][0] <= window + 1e-6:
            j -= 1
        if j == i:
            continue
        t0, before = scrapes[j]
        span = t - t0
        if panel.shape == "rate":
            then = _grouped(before, panel.metric, panel.by)
            for key, v in _grouped(now, panel.metric, panel.by).items():
                out[" ".join(key)].append((t, max(0.0, v - then.get(key, 0.0)) / span))
            continue
        by = (*panel.by, "le")
        then = _grouped(before, panel.metric + "_bucket", by)
        per_group: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
        for key, v in _grouped(now, panel.metric + "_bucket", by).items():
            per_group[key[:-1]].append((float(key[-1]), max(0.0, v - then.get(key, 0.0)) / span))
        for group, buckets in per_group.items():
            value = histogram_quantile(panel.q, buckets)
            if not math.isnan(value):
                out[" ".join(group)].append((t, value))
    return dict(out)


if __name__ == "__main__":
    write_json()
    print(DASHBOARD_JSON)
