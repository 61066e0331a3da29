"""What the business-contract commands share: finding the contract, the signer, and running a call.

The contract address comes from ``--contract`` or, with ``--net DIR``, from ``DIR/contracts.json``
(written by ``consortia contract deploy-all``), so users never copy addresses around.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.cli.common import CliError, add_rpc_arguments, parse_address, print_json, rpc_url
from node.cli.txcmd import receipt_summary
from node.config import load_key
from node.crypto import get_suite
from node.crypto.base import CryptoSuite
from node.sdk.args import json_to_args, to_jsonable
from node.sdk.client import Account, RpcClient
from node.sdk.contracts import Contract, ContractError
from node.sdk.deployments import address_of


def add_target(parser: argparse.ArgumentParser, *, signed: bool) -> None:
    """--net/--rpc, --contract and (for transactions) --key."""
    add_rpc_arguments(parser)
    parser.add_argument("--contract", default=None, help="contract address (default: from DIR/contracts.json with --net)")
    if signed:
        parser.add_argument("--key", type=Path, required=True, help="signer's key file")


def contract_address(args: argparse.Namespace, name: str) -> bytes:
    if getattr(args, "contract", None):
        return parse_address(args.contract)
    if getattr(args, "net", None):
        return address_of(args.net, name)
    raise CliError(f"give --net DIR (with a contracts.json) or --contract ADDRESS of the {name} contract")


@dataclass
class Session:
    client: RpcClient
    suite: CryptoSuite
    account: Account | None
    address: bytes

    def bound(self) -> Contract:
        """The command's contract, signing with ``--key`` if given."""
        return Contract(self.client, self.address, self.account)


def run(args: argparse.Namespace, name: str, body: Callable[[Session], Awaitable[Any]]) -> int:
    """Find contract ``name`` and the key (before any network call), connect, run ``body``, print its result as JSON."""
    address = contract_address(args, name)
    key = load_key(args.key) if getattr(args, "key", None) else None

    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            account = await Account.connect(client, key) if key is not None else None
            suite = account.suite if account is not None else get_suite((await client.node_info())["suite"])
            try:
                result = await body(Session(client, suite, account, address))
            except ContractError as exc:
                if exc.receipt is not None:
                    print_json(receipt_summary(exc.receipt))
                raise CliError(exc.message) from None
            if result is not None:
                print_json(to_jsonable(result))
            return 0

    return asyncio.run(go())


def hex_bytes(text: str, what: str) -> bytes:
    if not text.startswith("0x"):
        raise CliError(f"{what} '{text}' must be 0x-prefixed hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise CliError(f"{what} '{text}' is not hex") from None


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def json_arg(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    try:
        return json_to_args(json.loads(text))
    except ValueError as exc:
        raise CliError(f"{flag} is not valid JSON: {exc}") from None
