"""``consortia chaos``: fault injection against a local network under load (node/chaos.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from node.cli.common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chaos", help="kill, pause and restart nodes of a local network under load, then check it")
    p.add_argument("--seconds", type=float, default=120.0, help="how long to inject faults (default 120)")
    p.add_argument("--suite", choices=["sm", "std"], default="std")
    p.add_argument("--consensus", choices=["pbft", "raft"], default="pbft")
    p.add_argument("--seed", type=int, default=None, help="replay the faults of an earlier run")
    p.add_argument("--rate", type=float, default=20.0, help="transactions per second of load (default 20)")
    p.add_argument("--dir", type=Path, default=None, help="where to create the network's temporary directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from node.chaos import run_chaos

    if args.seconds <= 0 or args.rate <= 0:
        raise CliError("--seconds and --rate must be positive")
    report = asyncio.run(run_chaos(seconds=args.seconds, suite=args.suite, consensus=args.consensus, seed=args.seed,
                                   rate=args.rate, root=args.dir))
    print(report.summary())
    return 0 if report.ok else 1
