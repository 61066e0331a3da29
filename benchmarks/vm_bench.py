"""Print evidence-record calls executed per second on one core, and the VM's call overheads.

Usage: python benchmarks/vm_bench.py [--json] [--records N] [--suite sm|std]
Target: at least 5,000 evidence records per second. The overheads are measured in the same run:
a bare wasmtime export call (wasmtime-py and the raw C API the runtime uses), a whole contract
call (instantiate + run an empty method), and one host call.
The measuring code is ``node.vm.bench.run_vm_bench`` so ``consortia bench --parts vm`` shares it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from node.vm.bench import format_result, run_vm_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--records", type=int, default=5_000, help="evidence records executed in one block")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per overhead measurement")
    parser.add_argument("--suite", choices=["sm", "std"], action="append", help="suite (default: both)")
    args = parser.parse_args(argv)
    results = [run_vm_bench(s, args.records, args.seconds) for s in (args.suite or ["sm", "std"])]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            print(format_result(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
