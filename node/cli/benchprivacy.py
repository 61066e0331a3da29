"""``consortia bench privacy``: the privacy protocols' benchmark (X25519 ceiling, PSI, lookup, sums, vertical LR).

The measurements live in ``workers.privacy_bench``; this module only parses options and prints. It
imports ``workers`` inside ``run``, never at import time, so the node's CLI starts without the
workers' dependencies (numpy, gmpy2, rbcl) loaded. What each figure means: docs/privacy-protocols.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from node.cli.common import CliError, fail

PARTS = ("psi", "lookup", "sum", "vlr")
POSITIVE = ("psi_size", "psi_batch", "psi_threads", "ceiling_mults", "lookup_size", "lookup_queries", "sum_size",
            "vlr_rows", "vlr_features", "vlr_key_bits", "vlr_max_iter")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Privacy protocol benchmark: X25519 ceiling, ECDH-PSI (each party in its own process, "
                          "joined by a pipe), anonymous lookup, secure sum, vertical LR (all parties in this process).")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--psi-size", type=int, default=1_000_000, help="items on each side of the PSI")
    parser.add_argument("--psi-batch", type=int, default=8192, help="points per PSI message")
    parser.add_argument("--psi-threads", type=int, default=1,
                        help="compute threads per PSI party (both parties run at once, so 1 each fills 2 cores)")
    parser.add_argument("--psi-in-process", action="store_true",
                        help="run both PSI parties in this process (they then share one interpreter lock)")
    parser.add_argument("--ceiling-mults", type=int, default=200_000, help="X25519 multiplications for the ceiling")
    parser.add_argument("--lookup-size", type=int, default=1_000_000, help="entries in the lookup holder's list")
    parser.add_argument("--lookup-queries", type=int, default=200, help="single-key queries to time")
    parser.add_argument("--sum-size", type=int, default=1_000_000, help="values per party in the secure sum")
    parser.add_argument("--vlr-rows", type=int, default=1000, help="aligned rows for vertical LR")
    parser.add_argument("--vlr-features", type=int, default=10, help="features in total (a third at the label holder)")
    parser.add_argument("--vlr-key-bits", type=int, default=2048, help="Paillier modulus size")
    parser.add_argument("--vlr-max-iter", type=int, default=35, help="iteration cap (the noise pool is sized for it)")
    parser.add_argument("--vlr-learning-rate", type=float, default=3.5,
                        help="gradient step (features are standardised, so steps up to about 6 are stable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def checked_parts(args: argparse.Namespace) -> frozenset[str]:
    """The parts to run; an unknown part or a size below 1 is a ``CliError`` (one line, exit 1)."""
    parts = frozenset(p for p in args.parts.split(",") if p)
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise CliError(f"unknown --parts {sorted(unknown)} (choose from {', '.join(PARTS)})")
    for name in POSITIVE:
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    if args.psi_batch > 65536:
        raise CliError("--psi-batch must be at most 65536")
    if not args.vlr_learning_rate > 0:
        raise CliError("--vlr-learning-rate must be positive")
    return parts


def run(args: argparse.Namespace) -> int:
    parts = checked_parts(args)
    from workers import privacy_bench  # here, not at import time: the node does not depend on workers

    settings = privacy_bench.Settings(parts=parts, **{name: getattr(args, name)
                                                      for name in (*POSITIVE, "vlr_learning_rate", "psi_in_process")})
    report = privacy_bench.run(settings)
    print(json.dumps(report, indent=2) if args.json else privacy_bench.format_text(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for benchmarks/privacy_bench.py (same options as ``consortia bench privacy``)."""
    parser = argparse.ArgumentParser(prog="privacy_bench.py")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except CliError as exc:
        return fail(str(exc))
