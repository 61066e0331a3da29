"""``consortia node check --home DIR``: what ``node run`` would find, without starting the node.

Every problem ``node.preflight`` finds (config keys and types, key files and passphrase,
certificates, genesis against the database, ports, free disk), one line each, then the
open-file limit the node would run with (it raises its soft limit at start as far as the hard
limit allows), which bounds how many connections it can hold, and the connection limits.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from node.config import NodeConfig
from node.errors import ConsortiaError
from node.fdlimit import raise_soft_limit
from node.keyfile import PASSPHRASE_ENV, default_passphrase, passphrase_from_file
from node.preflight import check_home

# Below this many descriptors a node on a busy network has little room for RPC clients and peers.
RECOMMENDED_OPEN_FILES = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", required=True, type=Path, help="node home made by 'consortia net init' or 'node init'")
    parser.add_argument("--passphrase-file", type=Path, default=None,
                        help="check the passphrase of an encrypted node.key and tls/node.key too (else $CONSORTIA_KEY_PASSPHRASE, if set)")


def run(args: argparse.Namespace) -> int:
    home: Path = args.home
    errors = 0

    def report(kind: str, text: str) -> None:
        nonlocal errors
        errors += kind == "error"
        print(f"{kind:<8}{text}")

    passphrase = passphrase_from_file(args.passphrase_file) if args.passphrase_file else None
    if passphrase is None and os.environ.get(PASSPHRASE_ENV):
        passphrase = default_passphrase
    found = check_home(home, passphrase)
    for line in found.ok:
        report("ok", line)
    for line in found.warnings:
        report("warning", line)
    for line in found.errors:
        report("error", line)
    try:
        config = NodeConfig.load(home)
    except ConsortiaError:
        return 1  # already reported above, with every other problem
    _open_files(config, report)
    p2p, rpc, limits = config.p2p, config.rpc, config.limits
    report("info", f"p2p limits: handshake_timeout={p2p.handshake_timeout}s max_pending={p2p.max_pending} "
                   f"max_pending_per_ip={p2p.max_pending_per_ip} keepalive_interval={p2p.keepalive_interval}s "
                   f"idle_timeout={p2p.idle_timeout}s")
    report("info", f"rpc limits: max_connections={rpc.max_connections} max_pending={rpc.max_pending} "
                   f"max_pending_per_ip={rpc.max_pending_per_ip} handshake_timeout={rpc.handshake_timeout}s")
    report("info", f"descriptor reserve: p2p stops taking new connections {limits.fd_reserve} below the limit, "
                   f"rpc {limits.fd_reserve // 2} below it")
    return 1 if errors else 0


def _open_files(config: NodeConfig, report: Callable[[str, str], None]) -> None:
    wanted = config.limits.open_files
    change = raise_soft_limit(wanted)  # in this process only: the node does the same at start
    raised = f", raised from {change.before} at start" if change.soft > change.before else ""
    line = f"open files: the node will run with a soft limit of {change.soft}{raised} (hard limit {change.hard}, limits.open_files {wanted})"
    if change.soft <= config.limits.fd_reserve * 2:
        report("error", f"{line}: too low for limits.fd_reserve {config.limits.fd_reserve}")
    elif change.soft < RECOMMENDED_OPEN_FILES:
        report("warning", f"{line}; below {RECOMMENDED_OPEN_FILES}: raise the hard limit (ulimit -Hn, or LimitNOFILE= in the systemd unit)")
    else:
        report("ok", line)
