"""``consortia tx send|get|receipt``."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from node.cli.common import CliError, add_call_arguments, add_rpc_arguments, parse_address, print_json, rpc_url
from node.config import load_key
from node.crypto import get_suite
from node.sdk.args import decode_return, json_to_args, to_jsonable
from node.sdk.client import Account, RpcClient
from node.sdk.verify import verify_receipt_proof


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tx", help="send transactions and read them back")
    ts = p.add_subparsers(dest="tx_cmd", required=True, metavar="COMMAND")

    send = ts.add_parser("send", help="sign and send a contract call")
    add_call_arguments(send, signed=True)
    send.add_argument("--no-wait", action="store_true", help="print the hash without waiting for the receipt")
    send.add_argument("--timeout", type=float, default=30.0)
    send.set_defaults(func=tx_send)

    get = ts.add_parser("get", help="show a transaction (pending or committed)")
    add_rpc_arguments(get)
    get.add_argument("hash")
    get.set_defaults(func=tx_get)

    receipt = ts.add_parser("receipt", help="show a receipt; --proof verifies its inclusion and finality")
    add_rpc_arguments(receipt)
    receipt.add_argument("hash")
    receipt.add_argument("--proof", action="store_true", help="fetch and verify the Merkle proofs and commit certificate")
    receipt.set_defaults(func=tx_receipt)


def _hash_arg(text: str) -> str:
    if not text.startswith("0x") or len(text) != 66:
        raise CliError(f"'{text}' is not a transaction hash (0x + 64 hex digits)")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise CliError(f"'{text}' is not hex") from None
    return text


def receipt_summary(receipt: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: receipt[k] for k in ("tx_hash", "height", "index", "ok", "error", "fuel_used", "block_hash") if k in receipt}
    try:
        out["return"] = to_jsonable(decode_return(bytes.fromhex(receipt["return_value"][2:])))
    except Exception:
        out["return"] = receipt["return_value"]
    out["events"] = [{"name": e["name"], "contract": e["contract"], "data": _decode_or_hex(e["data"])} for e in receipt["events"]]
    return out


def _decode_or_hex(data: str) -> Any:
    try:
        return to_jsonable(decode_return(bytes.fromhex(data[2:])))
    except Exception:
        return data


def tx_send(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    to = parse_address(args.to)
    try:
        call_args = json_to_args(json.loads(args.args)) if args.args is not None else None
    except ValueError as exc:
        raise CliError(f"--args is not valid JSON: {exc}") from None

    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            account = await Account.connect(client, key)
            result = await account.send(to, args.method, call_args, fuel_limit=args.fuel, wait=False)
            print(f"tx hash: {result['hash']}")
            if args.no_wait:
                return 0
            receipt = await client.wait_for_receipt(result["hash"], args.timeout)
            print_json(receipt_summary(receipt))
            return 0 if receipt["ok"] else 1

    return asyncio.run(go())


def tx_get(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            tx = await client.get_tx(_hash_arg(args.hash))
        if tx is None:
            raise CliError(f"transaction {args.hash} is not known to this node")
        print_json(tx)
        return 0

    return asyncio.run(go())


def tx_receipt(args: argparse.Namespace) -> int:
    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            receipt = await client.get_receipt(_hash_arg(args.hash), args.proof)
            if receipt is None:
                raise CliError(f"no receipt for {args.hash} (not committed, or unknown)")
            print_json(receipt_summary(receipt))
            if args.proof:
                info = await client.node_info()
                suite = get_suite(info["suite"])
                validators = [bytes.fromhex(v[2:]) for v in info["validators"]]
                verify_receipt_proof(suite, receipt, chain_id=info["chain_id"], validators=validators,
                                     tx_hash=bytes.fromhex(args.hash[2:]), consensus=info["consensus"])
                print(f"proof: verified (block {receipt['height']} {receipt['block_hash']}, "
                      f"certificate from {len(validators)} validator(s))")
        return 0

    return asyncio.run(go())
