"""``consortia chain head|block|info``: read commands."""

from __future__ import annotations

import argparse
import asyncio

from node.cli.common import CliError, add_rpc_arguments, print_json, rpc_url
from node.sdk.client import RpcClient


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chain", help="read blocks and node information")
    cs = p.add_subparsers(dest="chain_cmd", required=True, metavar="COMMAND")
    head = cs.add_parser("head", help="print the head block")
    add_rpc_arguments(head)
    head.set_defaults(func=chain_head)
    block = cs.add_parser("block", help="print a block by height")
    add_rpc_arguments(block)
    block.add_argument("height", type=int)
    block.add_argument("--full", action="store_true", help="include whole transactions")
    block.set_defaults(func=chain_block)
    info = cs.add_parser("info", help="print node_info")
    add_rpc_arguments(info)
    info.set_defaults(func=chain_info)


def chain_head(args: argparse.Namespace) -> int:
    async def go() -> None:
        async with RpcClient(rpc_url(args)) as c:
            print_json(await c.get_block(await c.block_number()))

    asyncio.run(go())
    return 0


def chain_block(args: argparse.Namespace) -> int:
    if args.height < 0:
        raise CliError("height must not be negative")

    async def go() -> None:
        async with RpcClient(rpc_url(args)) as c:
            block = await c.get_block(args.height, args.full)
        if block is None:
            raise CliError(f"no block at height {args.height}")
        print_json(block)

    asyncio.run(go())
    return 0


def chain_info(args: argparse.Namespace) -> int:
    async def go() -> None:
        async with RpcClient(rpc_url(args)) as c:
            print_json(await c.node_info())

    asyncio.run(go())
    return 0
