"""``consortia node snapshot`` and ``node restore``: backups of a stopped node's database."""

from __future__ import annotations

import argparse
from pathlib import Path

from node.cli.common import CliError
from node.config import DATA_DIR, GENESIS_FILE
from node.crypto import get_suite
from node.genesis import Genesis
from node.store.backup import create_backup, read_manifest, restore_backup


def register(node_commands: argparse._SubParsersAction) -> None:
    snap = node_commands.add_parser("snapshot", help="back up a stopped node's database to one file (with a manifest and SHA-256s)")
    snap.add_argument("--home", required=True, type=Path, help="node home (the node must be stopped)")
    snap.add_argument("--out", required=True, type=Path, help="backup file to write (a tar); FILE.sha256 is written beside it")
    snap.add_argument("--force", action="store_true", help="overwrite an existing backup file")
    snap.set_defaults(func=node_snapshot)
    restore = node_commands.add_parser("restore", help="replace a stopped node's database by a verified backup")
    restore.add_argument("--home", required=True, type=Path, help="node home (the node must be stopped)")
    restore.add_argument("--from", dest="source", required=True, type=Path, help="backup file made by 'node snapshot'")
    restore.add_argument("--force", action="store_true", help="replace an existing database (kept as data.before-restore-TIME)")
    restore.set_defaults(func=node_restore)
    show = node_commands.add_parser("backup-info", help="print a backup file's manifest (chain, head, files)")
    show.add_argument("file", type=Path)
    show.set_defaults(func=node_backup_info)


def _genesis(home: Path) -> tuple[Genesis, bytes]:
    genesis = Genesis.load(home / GENESIS_FILE)
    block, _ = genesis.block()
    return genesis, get_suite(genesis.suite).hash(block.header.encode())


def node_snapshot(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists; use --force to overwrite it")
    genesis, _ = _genesis(args.home)
    manifest = create_backup(args.home / DATA_DIR, genesis.chain_id, args.out)
    total = sum(f.bytes for f in manifest.files)
    print(f"backup of {genesis.chain_id} at height {manifest.height} (head 0x{manifest.head_hash}): "
          f"{len(manifest.files)} files, {total} bytes -> {args.out}")
    return 0


def node_restore(args: argparse.Namespace) -> int:
    genesis, genesis_hash = _genesis(args.home)
    manifest = restore_backup(args.source, args.home / DATA_DIR, genesis_hash=genesis_hash, chain_id=genesis.chain_id,
                              force=args.force)
    print(f"restored {genesis.chain_id} at height {manifest.height} (head 0x{manifest.head_hash}) into {args.home / DATA_DIR}; "
          "start the node and it catches up from its peers")
    return 0


def node_backup_info(args: argparse.Namespace) -> int:
    m = read_manifest(args.file)
    print(f"chain:        {m.chain_id} (genesis 0x{m.genesis_hash})")
    print(f"height:       {m.height}")
    print(f"head:         0x{m.head_hash}")
    print(f"state root:   0x{m.state_root}")
    print(f"files:        {len(m.files)} ({sum(f.bytes for f in m.files)} bytes)")
    return 0
