"""Markdown tables (as in docs/performance.md) from the JSON of ``consortia bench --json``.

    consortia bench --json > bench.json && python benchmarks/bench_tables.py bench.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _mmm(f: dict[str, float], digits: int = 0) -> str:
    return f"{f['median']:,.{digits}f} ({f['min']:,.{digits}f}–{f['max']:,.{digits}f})"


def throughput_table(report: dict[str, Any]) -> list[str]:
    lines = ["| suite | n | kind | committed tx/s | verify/s per core | limit | ratio | p50 / p95 / p99 ms at 50 % | "
             "p50 / p95 / p99 ms at 80 % |", "|---|---|---|---|---|---|---|---|---|"]
    for size in report["results"]:
        for k in size["kinds"]:
            s = k["summary"]
            lines.append(f"| {size['suite']} | {size['validators']} | {k['kind']} | {_mmm(s['committed_tps'])} | "
                         f"{size['verify_per_s_per_core']:,.0f} | {size['verification_limit_tps']:,.0f} | {_mmm(s['ratio_to_limit'], 2)} | "
                         f"{s['half_p50_ms']['median']:,.0f} / {s['half_p95_ms']['median']:,.0f} / {s['half_p99_ms']['median']:,.0f} | "
                         f"{s['eighty_p50_ms']['median']:,.0f} / {s['eighty_p95_ms']['median']:,.0f} / {s['eighty_p99_ms']['median']:,.0f} |")
    return lines


def sizing_table(report: dict[str, Any]) -> list[str]:
    lines = ["| suite | n | kind | CPU µs/tx per validator | of which signature verification | rest | cores busy per validator | "
             "peak RSS MB (largest validator) | heap MB at the end (largest) | disk MB per million tx |", "|---|---|---|---|---|---|---|---|---|---|"]
    for size in report["results"]:
        for k in size["kinds"]:
            vs = k["validators"]

            def mean(name: str, vs: list[dict[str, Any]] = vs) -> float:
                return sum(v[name]["median"] for v in vs) / len(vs)

            rng = f"{min(v['cpu_us_per_tx']['median'] for v in vs):,.0f}–{max(v['cpu_us_per_tx']['median'] for v in vs):,.0f}"
            heap = (f"{max(v['rss_anon_bytes']['max'] for v in vs) / 2**20:,.0f}" if all("rss_anon_bytes" in v for v in vs)
                    else "–")  # (reports from before it was measured)
            lines.append(f"| {size['suite']} | {size['validators']} | {k['kind']} | {mean('cpu_us_per_tx'):,.0f} ({rng}) | "
                         f"{mean('verify_us_per_tx'):,.0f} ({vs[0]['verify_source']}) | {mean('other_us_per_tx'):,.0f} | {mean('cpu_share'):.2f} | "
                         f"{max(v['peak_rss_bytes']['max'] for v in vs) / 2**20:,.0f} | {heap} | {mean('disk_bytes_per_tx'):,.0f} |")
    return lines


def scaling_table(report: dict[str, Any]) -> list[str]:
    lines = ["| suite | n | kind | committed tx/s | limit | ratio | p50 / p99 ms at 50 % | p50 / p99 ms at 80 % | CPU µs/tx | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["scaling"]:
        lines.append(f"| {r['suite']} | {r['validators']} | {r['kind']} | {r['committed_tps']:,.0f} | {r['limit_tps']:,.0f} | "
                     f"{r['ratio_to_limit']:.2f} | {r['half_p50_ms']:,.0f} / {r['half_p99_ms']:,.0f} | "
                     f"{r['eighty_p50_ms']:,.0f} / {r['eighty_p99_ms']:,.0f} | {r['cpu_us_per_tx']:,.0f} | {r['peak_rss_mb']:,.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--table", choices=["throughput", "sizing", "scaling"], action="append")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    m = report["machine"]
    print(f"<!-- {report['date']} `{report['command']}`; {m['cpu_model']}, {m['cores']} cores, "
          f"{m['ram_bytes'] / 2**30:.1f} GiB; load {m['load_average']} -> {m['load_average_end']} -->")
    tables = {"throughput": throughput_table, "sizing": sizing_table, "scaling": scaling_table}
    for name in args.table or list(tables):
        print()
        print("\n".join(tables[name](report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
