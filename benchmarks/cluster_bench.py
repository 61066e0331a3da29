"""Sustained multi-validator benchmark, the same as ``consortia bench`` (see docs/performance.md).

    python benchmarks/cluster_bench.py --suite std --validators 4,7,10 --seconds 60 --repeat 3 --json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from node.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
