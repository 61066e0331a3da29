"""``consortia key new|show``."""

from __future__ import annotations

import argparse
from pathlib import Path

from node.cli.common import CliError
from node.config import load_key, save_key
from node.crypto import SUITES, get_suite


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("key", help="create and inspect keys")
    ks = p.add_subparsers(dest="key_cmd", required=True, metavar="COMMAND")
    new = ks.add_parser("new", help="generate a key pair and write it to a file (mode 0600)")
    new.add_argument("--suite", choices=SUITES, required=True)
    new.add_argument("--out", type=Path, required=True, help="key file to write")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=key_new)
    show = ks.add_parser("show", help="print a key file's suite, public key and address")
    show.add_argument("file", type=Path)
    show.set_defaults(func=key_show)


def key_new(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists; use --force to overwrite it")
    suite = get_suite(args.suite)
    key = suite.generate_keypair()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_key(args.out, key)
    print(f"suite:      {key.suite}")
    print(f"address:    0x{suite.address(key.public_bytes).hex()}")
    print(f"public key: 0x{key.public_bytes.hex()}")
    print(f"written to: {args.out}")
    return 0


def key_show(args: argparse.Namespace) -> int:
    key = load_key(args.file)
    suite = get_suite(key.suite)
    print(f"suite:      {key.suite}")
    print(f"address:    0x{suite.address(key.public_bytes).hex()}")
    print(f"public key: 0x{key.public_bytes.hex()}")
    return 0
