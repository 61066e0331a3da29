"""``consortia bench``: crypto rates and single-validator throughput, as text or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", choices=["sm", "std", "both"], default="both", help="crypto suite(s) to measure")
    parser.add_argument("--txs", type=int, default=20_000, help="transactions per throughput run")
    parser.add_argument("--connections", type=int, default=4, help="concurrent RPC connections submitting")
    parser.add_argument("--batch", type=int, default=250, help="tx_send requests per JSON-RPC batch")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per crypto measurement")
    parser.add_argument("--parts", default="crypto,throughput,vm",
                        help="comma-separated: crypto (sign/verify rates), throughput (one validator), vm (contract execution)")
    parser.add_argument("--records", type=int, default=5_000, help="evidence records per VM run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    from node.bench import run_throughput
    from node.crypto.bench import run as crypto_run

    suite = getattr(args, "suite", "both")
    suites = ["sm", "std"] if suite == "both" else [suite]
    txs = getattr(args, "txs", 20_000)
    if txs < 1:
        raise SystemExit("error: --txs must be at least 1")
    parts = set(getattr(args, "parts", "crypto,throughput,vm").split(","))
    unknown = parts - {"crypto", "throughput", "vm"}
    if unknown:
        raise SystemExit(f"error: unknown --parts {sorted(unknown)} (choose from crypto, throughput, vm)")
    seconds = getattr(args, "seconds", 1.0)
    report: dict[str, Any] = {"crypto": crypto_run(seconds) if "crypto" in parts else {}, "throughput": [], "vm": []}
    for s in suites:
        if "throughput" in parts:
            result = asyncio.run(run_throughput(s, txs, getattr(args, "connections", 4), getattr(args, "batch", 250)))
            report["throughput"].append(asdict(result))
        if "vm" in parts:
            from node.vm.bench import run_vm_bench

            report["vm"].append(asdict(run_vm_bench(s, getattr(args, "records", 5_000), seconds)))
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        for name, r in report["crypto"].items():
            print(f"crypto suite={name} " + " ".join(f"{k}={v}" for k, v in r.items()))
        for r in report["throughput"]:
            print(
                f"throughput suite={r['suite']} txs={r['transactions']} committed_tps={r['committed_tps']} "
                f"submit_tps={r['submit_tps']} seconds={r['seconds']} mean_block_txs={r['mean_block_txs']}"
            )
        from node.vm.bench import VmBenchResult, format_result

        for r in report["vm"]:
            print(format_result(VmBenchResult(**r)))
    return 0
