"""``consortia bench``: sustained, repeated load on real validators; text tables or one JSON object.

Progress goes to stderr while it runs; the report (or, with ``--json``, one object holding every
figure, the machine, date, command line, suites and engine) goes to stdout. What each figure
means and how it is measured: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shlex
import sys
from dataclasses import asdict
from typing import Any

KIND_NAMES = ("system_call", "evidence_record", "authorization_use")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Sustained load on real validator processes: tx/s, CPU per tx, latency p50/p95/p99, RSS, disk."
    parser.add_argument("--suite", choices=["sm", "std", "both"], default="both", help="crypto suite(s) to measure")
    parser.add_argument("--validators", default="4", help="network sizes, comma-separated (e.g. 4,7,10)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per load phase (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of every measurement (default 3)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of load before each max-rate window (default min(5, seconds/4))")
    parser.add_argument("--kinds", default=",".join(KIND_NAMES), help=f"transaction kinds, comma-separated ({', '.join(KIND_NAMES)})")
    parser.add_argument("--consensus", choices=["pbft", "raft"], default="pbft")
    parser.add_argument("--verify-workers", type=int, default=0,
                        help="signature-verification processes per node (default 0: the nodes share this machine's cores)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a chain parameter for the benchmark genesis (repeatable), e.g. pbft_pipeline_min_txs=200")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET",
                                    help="instead of the network: 'privacy' benchmarks the privacy protocols")
    privacy = targets.add_parser("privacy", help="X25519 ceiling, ECDH-PSI, anonymous lookup, secure sum, vertical LR "
                                                 "(docs/privacy-protocols.md)")
    from node.cli import benchprivacy

    benchprivacy.add_arguments(privacy)
    privacy.set_defaults(func=benchprivacy.run)


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"error: {what} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"error: {what} must be at least 1")
    return values


def config_from(args: argparse.Namespace) -> Any:
    from node.bench_sustained import BenchConfig

    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KIND_NAMES)
    if unknown or not kinds:
        raise SystemExit(f"error: unknown --kinds {sorted(unknown)} (choose from {', '.join(KIND_NAMES)})")
    if args.seconds <= 0 or args.repeat < 1:
        raise SystemExit("error: --seconds must be positive and --repeat at least 1")
    warmup = min(5.0, args.seconds / 4) if args.warmup is None else args.warmup
    from node.bench_setup import parse_param_overrides

    try:
        params = parse_param_overrides(args.param, max(_int_list(args.validators, "--validators")))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    return BenchConfig(seconds=args.seconds, repeat=args.repeat, warmup=warmup, kinds=kinds, consensus=args.consensus,
                       verify_workers=args.verify_workers, crypto_seconds=min(2.0, max(0.5, args.seconds / 10)), params=params)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from node.bench_sustained import run_all, scaling_rows
    from node.benchproc import load_average, machine

    cfg = config_from(args)
    sizes = _int_list(args.validators, "--validators")
    suites = ["sm", "std"] if args.suite == "both" else [args.suite]
    cores = os.cpu_count() or 1
    started = datetime.datetime.now(datetime.UTC)
    info = machine()

    def progress(message: str) -> None:
        print(f"{datetime.datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)

    results = asyncio.run(run_all(suites, sizes, cfg, cores, progress))
    info["load_average_end"] = load_average()
    report = {
        "date": started.isoformat(timespec="seconds"),
        "seconds_total": round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1),
        "command": shlex.join(["consortia", *sys.argv[1:]] if argv is None else argv),
        "machine": info,
        "settings": asdict(cfg),
        "suites": suites,
        "engine": cfg.consensus,
        "results": [asdict(r) for r in results],
        "scaling": scaling_rows(results),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"{report['date']}  {report['command']}",
             f"machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_bytes'] / 2**30:.1f} GiB RAM, "
             f"load {m['load_average']} -> {m['load_average_end']}; engine {report['engine']}"]
    params = report["settings"].get("params") or {}
    if params:
        lines.append("chain parameters over the benchmark genesis: " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
    lines.append("")
    for size in report["results"]:
        lines.append(f"suite {size['suite']}, {size['validators']} validators: {size['verify_per_s_per_core']:,.0f} verify/s per core, "
                     f"limit {size['verification_limit_tps']:,.0f} tx/s (median [min-max] of {report['settings']['repeat']} repeats)")
        for kind in size["kinds"]:
            s = kind["summary"]
            lines.append(f"  {kind['kind']}: {_mmm(s['committed_tps'])} tx/s, ratio {_mmm(s['ratio_to_limit'])}; "
                         f"latency p50/p95/p99 ms at 50% {_m(s['half_p50_ms'])}/{_m(s['half_p95_ms'])}/{_m(s['half_p99_ms'])}, "
                         f"at 80% {_m(s['eighty_p50_ms'])}/{_m(s['eighty_p95_ms'])}/{_m(s['eighty_p99_ms'])}")
            for v in kind["validators"]:
                lines.append(f"    {v['name']}: CPU {_m(v['cpu_us_per_tx'])} us/tx (verify {_m(v['verify_us_per_tx'])} "
                             f"[{v['verify_source']}], rest {_m(v['other_us_per_tx'])}), {_m(v['cpu_share'], 2)} cores, "
                             f"peak RSS {v['peak_rss_bytes']['max'] / 2**20:,.0f} MB, disk {_m(v['disk_bytes_per_tx'])} B/tx")
        lines.append("")
    lines.append(f"{'suite':<5} {'n':>3} {'kind':<18} {'tx/s':>8} {'limit':>8} {'ratio':>6} {'p50@50%':>8} {'p99@50%':>8} "
                 f"{'p50@80%':>8} {'p99@80%':>8} {'CPU us/tx':>9} {'RSS MB':>7} {'MB/Mtx':>7}")
    for r in report["scaling"]:
        lines.append(f"{r['suite']:<5} {r['validators']:>3} {r['kind']:<18} {r['committed_tps']:>8,.0f} {r['limit_tps']:>8,.0f} "
                     f"{r['ratio_to_limit']:>6.2f} {r['half_p50_ms']:>8,.0f} {r['half_p99_ms']:>8,.0f} {r['eighty_p50_ms']:>8,.0f} "
                     f"{r['eighty_p99_ms']:>8,.0f} {r['cpu_us_per_tx']:>9,.0f} {r['peak_rss_mb']:>7,.0f} {r['disk_mb_per_million_tx']:>7,.0f}")
    return "\n".join(lines)


def _m(figure: dict[str, float], digits: int = 0) -> str:
    return f"{figure['median']:,.{digits}f}"


def _mmm(figure: dict[str, float]) -> str:
    return f"{figure['median']:,.2f} [{figure['min']:,.2f}-{figure['max']:,.2f}]" if figure["median"] < 10 else \
        f"{figure['median']:,.0f} [{figure['min']:,.0f}-{figure['max']:,.0f}]"


def main(argv: list[str] | None = None) -> int:
    """Entry point for benchmarks/cluster_bench.py (same options as ``consortia bench``)."""
    parser = argparse.ArgumentParser(prog="cluster_bench.py")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, ["benchmarks/cluster_bench.py", *(sys.argv[1:] if argv is None else argv)])
