"""The Grafana dashboard imports (its shape) and asks only for series a live node exports."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import aiohttp
import pytest

from node.devnet import make_local_net
from tests.scrape import Scrape, scrape

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "consortia-dashboard.json"
METRIC = re.compile(r"\b((?:consortia|process)_[a-z0-9_]+)")


def exported(got: Scrape) -> set[str]:
    """Every name a query may use: samples present, and each family's sample names even before
    its first sample (a labelled counter with no child yet, peer traffic with no peer yet)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return got.names | {name + s for name, kind in got.types.items() for s in suffixes.get(kind, ("",))}


def test_dashboard_json_is_written_from_the_panel_list():
    """The committed JSON and the rendered picture come from one list (benchmarks/dashboard_panels.py)."""
    spec = importlib.util.spec_from_file_location("dashboard_panels", DASHBOARD.parents[2] / "benchmarks" / "dashboard_panels.py")
    assert spec is not None and spec.loader is not None
    panels = importlib.util.module_from_spec(spec)
    sys.modules["dashboard_panels"] = panels  # dataclasses look their module up there
    try:
        spec.loader.exec_module(panels)
    finally:
        del sys.modules["dashboard_panels"]
    assert json.loads(DASHBOARD.read_text()) == panels.dashboard()


def queried(dashboard: dict) -> set[str]:
    return {m for panel in dashboard["panels"] for target in panel["targets"] for m in METRIC.findall(target["expr"])}


def test_dashboard_has_what_grafana_imports():
    board = json.loads(DASHBOARD.read_text())
    assert isinstance(board["schemaVersion"], int) and board["title"] and board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 20
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"].count("(") == t["expr"].count(")") for t in panel["targets"]), panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
    assert len(queried(board)) >= 20


@pytest.mark.slow
async def test_every_queried_series_is_exported_by_a_live_node(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    net = make_local_net(tmp_path, "std", validators=1, params={"block_interval_ms": 100, "min_seal_ms": 5})
    net.start()
    try:
        await net.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            got = await scrape(session, net.nodes[0].url)
    finally:
        net.stop()
    missing = sorted(queried(board) - exported(got))
    assert missing == []
