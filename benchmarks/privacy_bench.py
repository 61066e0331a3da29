"""Privacy protocol benchmark, the same as ``consortia bench privacy`` (see docs/privacy-protocols.md).

    python benchmarks/privacy_bench.py --parts psi --psi-size 1000000
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from node.cli.benchprivacy import main

if __name__ == "__main__":
    raise SystemExit(main())
