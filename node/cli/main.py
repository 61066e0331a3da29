"""The ``consortia`` entry point: argparse subcommands, and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from node import __version__
from node.cli import (
    backupcmd,
    catalogcmd,
    chaincmd,
    chaoscmd,
    contractcmd,
    didcmd,
    forkcmd,
    govcmd,
    keycmd,
    net,
    nodeinit,
    pointscmd,
    rightscmd,
    taskcmd,
    txcmd,
)
from node.cli.common import CliError, fail
from node.errors import ConsortiaError


def _node_run(args: argparse.Namespace) -> int:
    from node.app import run_node
    from node.keyfile import passphrase_from_file

    run_node(Path(args.home), passphrase_from_file(args.passphrase_file) if args.passphrase_file else None)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from node.cli import demo

    return demo.run(args)


def _bench(args: argparse.Namespace) -> int:
    from node.cli import bench

    return bench.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consortia",
        description="Consortia: a consortium blockchain node for trusted data collaboration.",
    )
    parser.add_argument("--version", action="version", version=f"consortia {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    node = sub.add_parser("node", help="run a node; back up and restore its database")
    ns = node.add_subparsers(dest="node_cmd", required=True, metavar="COMMAND")
    run = ns.add_parser("run", help="run one node in the foreground until SIGINT/SIGTERM")
    run.add_argument("--home", required=True, type=Path, help="node home made by 'consortia net init'")
    run.add_argument("--passphrase-file", type=Path, default=None,
                     help="passphrase of an encrypted node.key and tls/node.key (first line); else $CONSORTIA_KEY_PASSPHRASE or a prompt")
    run.set_defaults(func=_node_run)
    check = ns.add_parser("check", help="check a node home without starting it: keys, certificates, open-file limit")
    from node.cli import nodecheck

    nodecheck.add_arguments(check)
    check.set_defaults(func=nodecheck.run)
    backupcmd.register(ns)
    forkcmd.register(ns)
    nodeinit.register_node_commands(ns)

    net.register(sub)
    keycmd.register(sub)
    nodeinit.register_ca_commands(sub)
    txcmd.register(sub)
    contractcmd.register(sub)
    didcmd.register(sub)
    catalogcmd.register(sub)
    pointscmd.register(sub)
    taskcmd.register(sub)
    rightscmd.register(sub)
    chaincmd.register(sub)
    chaoscmd.register(sub)
    govcmd.register(sub)

    demo = sub.add_parser("demo", help="run the end-to-end demo on a fresh local network")
    from node.cli import demo as demo_module

    demo_module.add_arguments(demo)
    demo.set_defaults(func=_demo)

    bench = sub.add_parser("bench", help="sustained load on a local network: tx/s, latency percentiles, CPU per tx, RSS, disk (docs/performance.md)")
    from node.cli import bench as bench_module

    bench_module.add_arguments(bench)
    bench.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; return its exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        return fail(str(exc))
    except ConsortiaError as exc:
        return fail(exc.message)
    except KeyboardInterrupt:
        return fail("interrupted")
    except OSError as exc:
        return fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}")


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
