"""``consortia contract deploy|call|query|info`` and ``consortia evidence record|get|list|points``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from node.cli.common import CliError, add_call_arguments, add_rpc_arguments, parse_address, print_json, rpc_url
from node.cli.txcmd import receipt_summary
from node.config import load_key
from node.sdk import deployments
from node.sdk.args import json_to_args, to_jsonable
from node.sdk.client import Account, RpcClient
from node.sdk.contracts import DEPLOY_FUEL, Contract, ContractError, builtin_code, deploy
from node.sdk.evidence import Evidence, evidence_hash


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contract", help="deploy, call and query WASM contracts")
    cs = p.add_subparsers(dest="contract_cmd", required=True, metavar="COMMAND")

    d = cs.add_parser("deploy", help="deploy a contract (a .wasm file or a prebuilt one)")
    add_rpc_arguments(d)
    d.add_argument("--key", type=Path, required=True, help="deployer's key file")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--wasm", type=Path, help="contract code to deploy")
    src.add_argument("--builtin", help="a prebuilt contract from contracts_wasm/dist, e.g. evidence")
    d.add_argument("--init-args", default=None,
                   help="JSON arguments for the contract's init method (a builtin's default: the addresses it needs "
                        "from the network's contracts.json)")
    d.add_argument("--fuel", type=int, default=DEPLOY_FUEL, help="fuel limit")
    d.set_defaults(func=contract_deploy)

    c = cs.add_parser("call", help="call a contract method in a transaction and wait for the receipt")
    add_call_arguments(c, signed=True, fuel=5_000_000)
    c.set_defaults(func=contract_call)

    q = cs.add_parser("query", help="run a read-only method (no transaction)")
    add_call_arguments(q, signed=False)
    q.set_defaults(func=contract_query)

    da = cs.add_parser("deploy-all", help="deploy every prebuilt business contract in order and record them in DIR/contracts.json")
    da.add_argument("--net", type=Path, required=True, help="network directory (contracts.json is written there)")
    da.add_argument("--key", type=Path, required=True, help="deployer's key file (the network's admin key)")
    da.add_argument("--only", default=None, help="comma-separated subset, e.g. evidence,did,catalog")
    da.set_defaults(func=contract_deploy_all)

    i = cs.add_parser("info", help="which code runs at an address, who deployed it and when")
    add_rpc_arguments(i)
    i.add_argument("address")
    i.set_defaults(func=contract_info)

    e = sub.add_parser("evidence", help="record and look up evidence (存证) in the evidence contract")
    es = e.add_subparsers(dest="evidence_cmd", required=True, metavar="COMMAND")
    r = es.add_parser("record", help="record the hash of a file (or a given hash)")
    add_rpc_arguments(r)
    r.add_argument("--key", type=Path, required=True)
    r.add_argument("--contract", required=True, help="evidence contract address")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="hash this file with the chain's hash function")
    what.add_argument("--hash", help="0x-prefixed hash to record")
    r.add_argument("--kind", required=True, help="e.g. document, task_config, data_input, compute_start, compute_end, result_receipt")
    r.add_argument("--task", default=None, help="related collaboration task id")
    r.add_argument("--meta", default=None, help="JSON metadata")
    r.set_defaults(func=evidence_record)
    g = es.add_parser("get", help="show the record of a hash (or of a file's hash)")
    add_rpc_arguments(g)
    g.add_argument("--contract", required=True)
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--file", type=Path)
    which.add_argument("--hash")
    g.set_defaults(func=evidence_get)
    lst = es.add_parser("list", help="records by submitter or by task")
    add_rpc_arguments(lst)
    lst.add_argument("--contract", required=True)
    by = lst.add_mutually_exclusive_group(required=True)
    by.add_argument("--submitter", help="account address")
    by.add_argument("--task", help="task id")
    lst.add_argument("--offset", type=int, default=0)
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=evidence_list)
    pts = es.add_parser("points", help="which of a task's evidence points are on chain")
    add_rpc_arguments(pts)
    pts.add_argument("--contract", required=True)
    pts.add_argument("--task", required=True)
    pts.set_defaults(func=evidence_points)


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _json_args(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    try:
        return json_to_args(json.loads(text))
    except ValueError as exc:
        raise CliError(f"{flag} is not valid JSON: {exc}") from None


def _hash(text: str) -> bytes:
    if not text.startswith("0x"):
        raise CliError(f"'{text}' must be 0x-prefixed hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise CliError(f"'{text}' is not hex") from None


def _run(args: argparse.Namespace, body: Callable[[RpcClient], Awaitable[int]]) -> int:
    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            try:
                return await body(client)
            except ContractError as exc:
                if exc.receipt is not None:
                    print_json(receipt_summary(exc.receipt))
                raise CliError(exc.message) from None

    return asyncio.run(go())


def contract_deploy(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    if args.wasm is not None:
        try:
            code = args.wasm.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {args.wasm}: {exc.strerror}") from None
    else:
        code = builtin_code(args.builtin)
    init_args = _json_args(args.init_args, "--init-args")
    if args.builtin is not None and args.init_args is None:
        init_args = deployments.init_args_for(args.builtin, deployments.load(args.net) if args.net else {})

    async def body(client: RpcClient) -> int:
        account = await Account.connect(client, key)
        d = await deploy(account, code, init_args, fuel_limit=args.fuel)
        if args.builtin is not None and args.net is not None:
            deployments.save(args.net, {args.builtin: {"address": "0x" + d.address.hex(), "code_hash": "0x" + d.code_hash.hex(),
                                                       "tx": d.tx_hash}})
            await deployments.link(account, args.builtin, deployments.load(args.net), _log)
        print_json({"address": "0x" + d.address.hex(), "code_hash": "0x" + d.code_hash.hex(), "tx_hash": d.tx_hash,
                    "height": d.receipt["height"], "fuel_used": d.receipt["fuel_used"]})
        return 0

    return _run(args, body)


def contract_deploy_all(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    names = [n.strip() for n in args.only.split(",")] if args.only else None

    async def body(client: RpcClient) -> int:
        account = await Account.connect(client, key)
        done = await deployments.deploy_all(account, args.net, names, log=_log)
        print_json({name: "0x" + address.hex() for name, address in done.items()})
        return 0

    return _run(args, body)


def contract_call(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    to = parse_address(args.to)
    call_args = _json_args(args.args, "--args")

    async def body(client: RpcClient) -> int:
        account = await Account.connect(client, key)
        result = await account.send(to, args.method, call_args, fuel_limit=args.fuel)
        print_json(receipt_summary(result["receipt"]))
        return 0 if result["receipt"]["ok"] else 1

    return _run(args, body)


def contract_query(args: argparse.Namespace) -> int:
    to = parse_address(args.to)
    call_args = _json_args(args.args, "--args")

    async def body(client: RpcClient) -> int:
        print_json(to_jsonable(await client.query(to, args.method, call_args)))
        return 0

    return _run(args, body)


def contract_info(args: argparse.Namespace) -> int:
    address = parse_address(args.address)

    async def body(client: RpcClient) -> int:
        info = await Contract(client, address).info()
        if info is None:
            raise CliError(f"no contract at {args.address}")
        print_json(to_jsonable(info))
        return 0

    return _run(args, body)


async def _suite(client: RpcClient) -> Any:
    from node.crypto import get_suite

    return get_suite((await client.node_info())["suite"])


def _evidence_input(file: Path | None, text: str | None) -> bytes:
    """The file's bytes or the given hash, checked before any network call."""
    if file is not None:
        try:
            return file.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror}") from None
    return _hash(text or "")


async def _evidence_hash(client: RpcClient, file: Path | None, given: bytes) -> bytes:
    """The hash to look up or record: the chain's hash of the file, or the given hash."""
    return evidence_hash(await _suite(client), given) if file is not None else given


def evidence_record(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    address = parse_address(args.contract)
    meta = _json_args(args.meta, "--meta")
    given = _evidence_input(args.file, args.hash)

    async def body(client: RpcClient) -> int:
        account = await Account.connect(client, key)
        digest = await _evidence_hash(client, args.file, given)
        seq = await Evidence(Contract(client, address, account)).record(digest, args.kind, metadata=meta, task_id=args.task)
        print_json({"hash": "0x" + digest.hex(), "seq": seq})
        return 0

    return _run(args, body)


def evidence_get(args: argparse.Namespace) -> int:
    address = parse_address(args.contract)
    given = _evidence_input(args.file, args.hash)

    async def body(client: RpcClient) -> int:
        digest = await _evidence_hash(client, args.file, given)
        record = await Evidence(Contract(client, address)).get(digest)
        if record is None:
            raise CliError(f"no evidence recorded for 0x{digest.hex()}")
        print_json(to_jsonable(record))
        return 0

    return _run(args, body)


def evidence_list(args: argparse.Namespace) -> int:
    address = parse_address(args.contract)

    async def body(client: RpcClient) -> int:
        ev = Evidence(Contract(client, address))
        if args.submitter:
            page = await ev.by_submitter(parse_address(args.submitter), args.offset, args.limit)
        else:
            page = await ev.by_task(args.task, args.offset, args.limit)
        print_json(to_jsonable(page))
        return 0

    return _run(args, body)


def evidence_points(args: argparse.Namespace) -> int:
    address = parse_address(args.contract)

    async def body(client: RpcClient) -> int:
        print_json(to_jsonable(await Evidence(Contract(client, address)).task_points(args.task)))
        return 0

    return _run(args, body)
