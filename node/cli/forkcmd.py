"""``consortia node fork-info`` and ``node clear-fork``: the operator's side of a detected fork.

A node that found two commit certificates for different blocks at one height (node.forkwatch)
keeps the evidence in its database and takes no part in consensus or sync until it is removed.
These commands read it from a stopped node's database and, once the operator has dealt with the
cause (docs/operator-guide.md, "After a fork"), archive it to a JSON file and remove it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from node.cli.common import CliError
from node.config import DATA_DIR, GENESIS_FILE
from node.forkwatch import ForkEvidence, clear_evidence, load_evidence
from node.genesis import Genesis
from node.store.chainstore import ChainStore


def register(node_commands: argparse._SubParsersAction) -> None:
    info = node_commands.add_parser("fork-info", help="print the fork evidence a stopped node holds (JSON), if any")
    info.add_argument("--home", required=True, type=Path, help="node home (the node must be stopped)")
    info.set_defaults(func=fork_info)
    clear = node_commands.add_parser("clear-fork", help="archive and remove a stopped node's fork evidence, so it takes part again")
    clear.add_argument("--home", required=True, type=Path, help="node home (the node must be stopped)")
    clear.add_argument("--height", required=True, type=int, help="the evidence's height, as 'node fork-info' shows it (a check)")
    clear.add_argument("--archive", type=Path, default=None,
                       help="where to write the evidence before removing it (default: HOME/fork-evidence-HEIGHT-TIME.json)")
    clear.set_defaults(func=clear_fork)


def evidence_json(evidence: ForkEvidence, names: dict[bytes, str]) -> dict[str, Any]:
    """Everything stored, hex-encoded: both certificates and headers as raw bytes, plus the summary."""
    return {**evidence.summary(names),
            "ours_certificate": "0x" + evidence.ours_cert.hex(), "theirs_certificate": "0x" + evidence.theirs_cert.hex(),
            "ours_header": "0x" + evidence.ours_header.hex() if evidence.ours_header else None,
            "theirs_header": "0x" + evidence.theirs_header.hex() if evidence.theirs_header else None}


def _names(home: Path) -> dict[bytes, str]:
    return {n.pubkey: n.name for n in Genesis.load(home / GENESIS_FILE).nodes}


def _open(home: Path) -> ChainStore:
    if not (home / DATA_DIR).is_dir():
        raise CliError(f"{home / DATA_DIR} does not exist: not a node home, or the node never ran")
    return ChainStore(home / DATA_DIR, create=False)  # a running node holds the lock: StoreError, one line


def fork_info(args: argparse.Namespace) -> int:
    store = _open(args.home)
    try:
        evidence = load_evidence(store)
    finally:
        store.close()
    if evidence is None:
        print("no fork evidence: the node takes part normally")
        return 0
    print(json.dumps(evidence_json(evidence, _names(args.home)), indent=2))
    return 0


def clear_fork(args: argparse.Namespace) -> int:
    names = _names(args.home)
    store = _open(args.home)
    try:
        evidence = load_evidence(store)
        if evidence is None:
            raise CliError("no fork evidence in this node's database: nothing to clear")
        if evidence.height != args.height:
            raise CliError(f"the evidence is for height {evidence.height}, not {args.height}: read 'consortia node fork-info' first")
        archive = args.archive or args.home / f"fork-evidence-{evidence.height}-{int(time.time())}.json"
        archive.write_text(json.dumps(evidence_json(evidence, names), indent=2) + "\n")
        clear_evidence(store)
    finally:
        store.close()
    print(f"fork evidence for height {evidence.height} archived to {archive} and removed; the node takes part again when started")
    return 0
