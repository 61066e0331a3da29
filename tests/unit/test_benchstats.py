"""Percentiles and the median / min / max over repeats that the benchmark reports."""

from __future__ import annotations

import pytest

from node.bench_sustained import Latency, RepeatResult, ValidatorFigures, flatten, latency_figures, summarise
from node.benchstats import Summary, percentile


def test_nearest_rank_percentiles_are_observed_values():
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert [percentile(values, q) for q in (1, 50, 95, 99, 100)] == [1, 50, 95, 99, 100]
    assert percentile([3.5], 99) == 3.5
    assert percentile([1, 2, 3], 50) == 2
    assert percentile([10, 20], 50) == 10 and percentile([10, 20], 51) == 20


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_outside_its_range_is_refused(q):
    with pytest.raises(ValueError):
        percentile([1, 2], q)


def test_no_values_is_refused():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        Summary.of([])


def test_summary_of_repeats():
    assert Summary.of([3, 1, 2]) == Summary(2, 1, 3)
    assert Summary.of([4, 1, 2, 10]).rounded() == {"median": 3.0, "min": 1.0, "max": 10.0}


def test_latency_figures_from_submit_and_commit_times():
    sent = {f"h{i}": 0.0 for i in range(100)}
    committed = {f"h{i}": (i + 1) / 1000 for i in range(100)}  # 1 ms .. 100 ms
    lat = latency_figures(sent, committed, refused=2, offered=50.0)
    assert (lat.transactions, lat.refused, lat.p50_ms, lat.p95_ms, lat.p99_ms) == (100, 2, 50.0, 95.0, 99.0)


def test_flatten_keeps_numbers_and_nests_names():
    assert flatten({"a": 1, "b": {"c": 2.5, "d": "x"}, "e": True}) == {"a": 1.0, "b_c": 2.5}


def _repeat(n: int, tps: float, cpu: float) -> RepeatResult:
    lat = Latency(tps / 2, 10, 0, 100.0 * n, 200.0, 300.0)
    v = ValidatorFigures(name="validator-0", cpu_share=0.5, cpu_us_per_tx=cpu, verify_us_per_tx=50.0, other_us_per_tx=cpu - 50,
                         verify_source="estimate", peak_rss_bytes=100 << 20, rss_anon_bytes=(60 + n) << 20,
                         workers_peak_rss_bytes=0, disk_bytes_per_tx=700.0)
    return RepeatResult("system_call", n, 60.0, int(tps * 60), tps, tps / 1000, 0, False, 0, 20, lat, lat, [v])


def test_summarise_gives_median_min_max_per_figure_and_per_validator():
    summary, validators = summarise([_repeat(1, 900, 300), _repeat(2, 1000, 200), _repeat(3, 1100, 250)])
    assert summary["committed_tps"] == {"median": 1000, "min": 900, "max": 1100}
    assert summary["half_p50_ms"] == {"median": 200, "min": 100, "max": 300}
    assert "repeat" not in summary and "ran_dry" not in summary
    assert validators[0]["name"] == "validator-0" and validators[0]["verify_source"] == "estimate"
    assert validators[0]["cpu_us_per_tx"] == {"median": 250, "min": 200, "max": 300}
    assert validators[0]["rss_anon_bytes"] == {"median": 62 << 20, "min": 61 << 20, "max": 63 << 20}


def test_verify_rate_is_counted_per_cpu_second():
    from node.bench_sustained import verify_rate_per_cpu_second

    rate = verify_rate_per_cpu_second("std", 0.05)
    assert isinstance(rate, float) and rate > 0
