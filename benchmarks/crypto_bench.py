"""Print hash / sign / verify rates for each crypto suite (``--json`` for machine-readable output).

Usage: python benchmarks/crypto_bench.py [--json] [--seconds S] [--suite sm|std]
The measuring code is ``node.crypto.bench.run`` so the installed ``consortia bench`` shares it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from node.crypto import SUITES
from node.crypto.bench import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--suite", choices=SUITES, action="append", help="suite to measure (default: all)")
    args = parser.parse_args(argv)
    results = run(args.seconds, args.suite or SUITES)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for suite, r in results.items():
            print(f"suite={suite} " + " ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
