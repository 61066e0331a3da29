"""Helpers shared by CLI commands: where the node is, printing, and failing in one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from node.errors import ConfigError

DEFAULT_RPC = "http://127.0.0.1:26600"


class CliError(Exception):
    """A usage or environment problem reported as one line with exit code 1."""


def add_rpc_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rpc", help=f"node RPC URL (default: $CONSORTIA_RPC or {DEFAULT_RPC})")
    group.add_argument("--net", type=Path, help="network directory from 'net init': use its first node")


def add_call_arguments(parser: argparse.ArgumentParser, *, signed: bool, fuel: int = 1_000_000) -> None:
    """The node, contract, method and JSON arguments of a call; ``signed`` adds the key and fuel limit."""
    add_rpc_arguments(parser)
    if signed:
        parser.add_argument("--key", type=Path, required=True, help="signer's key file")
    parser.add_argument("--to", required=True, help="contract address (0x + 40 hex digits)")
    parser.add_argument("--method", required=True)
    parser.add_argument("--args", default=None, help='JSON arguments; "0x.." strings become bytes')
    if signed:
        parser.add_argument("--fuel", type=int, default=fuel, help="fuel limit")


def rpc_url(args: argparse.Namespace) -> str:
    if getattr(args, "rpc", None):
        return str(args.rpc)
    if getattr(args, "net", None):
        return network_nodes(args.net)[0]["rpc_url"]
    return os.environ.get("CONSORTIA_RPC", DEFAULT_RPC)


def network_nodes(net_dir: Path) -> list[dict[str, Any]]:
    path = Path(net_dir) / "network.json"
    try:
        data = json.loads(path.read_text())
        nodes = data["nodes"]
        if not nodes:
            raise ValueError("no nodes")
        return list(nodes)
    except FileNotFoundError:
        raise ConfigError(f"{path} not found (create the network with 'consortia net init')") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is invalid: {exc}") from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def parse_address(text: str) -> bytes:
    if not text.startswith("0x"):
        raise CliError(f"address '{text}' must start with 0x")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise CliError(f"address '{text}' is not hex") from None
    if len(raw) not in (0, 20):
        raise CliError(f"address '{text}' must be 20 bytes")
    return raw


def fail(message: str) -> int:
    """Print ``error: …`` once per line of ``message`` (checks that find several problems report each)."""
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)
    return 1
