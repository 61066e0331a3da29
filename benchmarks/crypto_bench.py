"""Print sign / verify / hash rates for each crypto suite (``--json`` for machine-readable output)."""

import json
import sys

from node.crypto.bench import run

if __name__ == "__main__":
    results = run(float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 1.0)
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
    else:
        for suite, r in results.items():
            print(f"suite={suite} " + " ".join(f"{k}={v}" for k, v in r.items()))
