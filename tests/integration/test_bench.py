"""A short ``consortia bench --json`` run on four real validators reports every figure, with sane
types. Not a timed test: no figure is compared with a target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def _mmm(figure: dict[str, float]) -> None:
    assert set(figure) == {"median", "min", "max"}
    assert figure["min"] <= figure["median"] <= figure["max"]


def test_a_short_bench_run_reports_every_figure():
    cmd = [sys.executable, "-m", "node.cli.main", "bench", "--suite", "std", "--validators", "4", "--seconds", "3",
           "--repeat", "1", "--json"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "max rate" in done.stderr  # progress is shown while it runs, on stderr
    report = json.loads(done.stdout)
    assert report["command"].startswith("consortia bench") and "--seconds 3" in report["command"]
    assert report["date"][:2] == "20" and report["engine"] == "pbft" and report["suites"] == ["std"]
    m = report["machine"]
    assert isinstance(m["cpu_model"], str) and m["cores"] >= 1 and m["ram_bytes"] > 0 and len(m["load_average"]) == 3
    [size] = report["results"]
    assert size["validators"] == 4 and size["verify_per_s_per_core"] > 0
    assert size["verification_limit_tps"] == pytest.approx(size["verify_per_s_per_core"] * m["cores"] / 4, rel=0.01)
    assert [k["kind"] for k in size["kinds"]] == ["system_call", "evidence_record", "authorization_use"]
    for kind in size["kinds"]:
        s = kind["summary"]
        for name in ("committed_tps", "ratio_to_limit", "half_p50_ms", "half_p95_ms", "half_p99_ms", "eighty_p50_ms",
                     "eighty_p95_ms", "eighty_p99_ms", "half_offered_tps", "eighty_offered_tps"):
            _mmm(s[name])
        assert s["committed_tps"]["median"] > 0, kind["kind"]
        [rep] = kind["repeats"]
        assert rep["failed_receipts"] == 0 and rep["sampled_receipts"] > 0, kind["kind"]
        for load in ("half", "eighty"):
            lat = rep[load]
            assert lat["transactions"] > 0 and 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
        assert len(kind["validators"]) == 4
        for v in kind["validators"]:
            assert v["verify_source"] in ("workers", "estimate")
            for name in ("cpu_us_per_tx", "verify_us_per_tx", "other_us_per_tx", "cpu_share", "peak_rss_bytes", "rss_anon_bytes", "disk_bytes_per_tx"):
                _mmm(v[name])
            assert v["cpu_us_per_tx"]["median"] > 0 and v["peak_rss_bytes"]["median"] > 1 << 20
            assert v["disk_bytes_per_tx"]["median"] > 0
    rows = report["scaling"]
    assert [(r["validators"], r["kind"]) for r in rows] == [(4, k) for k in ("system_call", "evidence_record", "authorization_use")]
    assert all(r["limit_tps"] > 0 and r["committed_tps"] > 0 for r in rows)
    from node.cli.bench import format_report

    text = format_report(report)  # the text mode renders the same object
    assert all(k in text for k in ("system_call", "evidence_record", "authorization_use", "validator-3", "p99@80%"))
