"""``consortia node check --home DIR``: what ``node run`` would find, without starting the node.

It loads the same files the node loads and reports, one line each, what is wrong or worth knowing:
key files others may read, and the open-file limit the node would run with (it raises its soft
limit at start as far as the hard limit allows), which bounds how many connections it can hold.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from node.app import tls_key_file
from node.config import GENESIS_FILE, KEY_FILE, NodeConfig
from node.errors import ConsortiaError
from node.fdlimit import raise_soft_limit
from node.genesis import Genesis
from node.keyfile import check_private, key_info
from node.p2p.certs import CA_CERT, NODE_CERT, TLS_DIR

# Below this many descriptors a node on a busy network has little room for RPC clients and peers.
RECOMMENDED_OPEN_FILES = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", required=True, type=Path, help="node home made by 'consortia net init'")


def run(args: argparse.Namespace) -> int:
    home: Path = args.home
    errors = 0

    def report(kind: str, text: str) -> None:
        nonlocal errors
        errors += kind == "error"
        print(f"{kind:<8}{text}")

    try:
        config = NodeConfig.load(home)
        report("ok", f"config {home / 'config.toml'} ({config.name}, {config.role})")
    except ConsortiaError as exc:
        report("error", exc.message)
        return 1
    for path, what in ((home / KEY_FILE, "key file"), (tls_key_file(home), "TLS key file")):
        try:
            check_private(path, what)
            report("ok", f"{what} {path} is readable by its owner only")
        except ConsortiaError as exc:
            report("error", exc.message)
    for name in (CA_CERT, NODE_CERT):
        if not (home / TLS_DIR / name).exists():
            report("error", f"{home / TLS_DIR / name} is missing (re-run 'consortia net init' to issue node certificates)")
    try:
        genesis = Genesis.load(home / GENESIS_FILE)
        public_key = key_info(home / KEY_FILE).public_key  # without a passphrase, for an encrypted key too
        listed = any(n.pubkey == public_key for n in genesis.nodes)
        report("ok" if listed else "error",
               f"genesis chain '{genesis.chain_id}'" + ("" if listed else ": this node's key is not listed in it"))
    except ConsortiaError as exc:
        report("error", exc.message)
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
