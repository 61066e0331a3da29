"""``consortia gov propose|vote|list|show|members|nodes|roles``: the governance committee from a shell.

``propose`` prints only the new proposal's id on stdout (so ``ID=$(consortia gov propose ...)``
works) and a line about its status on stderr; the read commands print JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from node.cli.common import CliError, add_rpc_arguments, parse_address, print_json, rpc_url
from node.config import load_key
from node.execution.system.committee import OPEN, PROPOSAL_TYPES, STATUSES
from node.sdk.client import Account, RpcClient
from node.sdk.governance import Governance, Submitted


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gov", help="governance: propose, vote, list proposals, show the committee")
    gs = p.add_subparsers(dest="gov_cmd", required=True, metavar="COMMAND")

    propose = gs.add_parser("propose", help="propose a change (your yes vote is cast with it); prints the id")
    add_rpc_arguments(propose)
    propose.add_argument("--key", type=Path, required=True, help="a committee member's key file")
    propose.add_argument("--type", required=True, choices=list(PROPOSAL_TYPES), metavar="TYPE",
                         help=f"one of: {', '.join(PROPOSAL_TYPES)}")
    propose.add_argument("--args", required=True, help='the payload as a JSON object; addresses and keys as "0x.."')
    propose.add_argument("--reason", default="", help="why (stored with the proposal)")
    propose.add_argument("--expiry-blocks", type=int, default=None, help="votes are accepted for this many blocks")
    propose.set_defaults(func=gov_propose)

    vote = gs.add_parser("vote", help="vote on an open proposal (a later vote replaces yours)")
    add_rpc_arguments(vote)
    vote.add_argument("--key", type=Path, required=True, help="a committee member's key file")
    vote.add_argument("id", type=int)
    choice = vote.add_mutually_exclusive_group(required=True)
    choice.add_argument("--yes", action="store_true")
    choice.add_argument("--no", action="store_true")
    vote.set_defaults(func=gov_vote)

    listing = gs.add_parser("list", help="proposals, newest first")
    add_rpc_arguments(listing)
    listing.add_argument("--open", action="store_true", help="only proposals still open for votes")
    listing.add_argument("--status", choices=STATUSES, default=None)
    listing.add_argument("--type", choices=list(PROPOSAL_TYPES), default=None, metavar="TYPE")
    listing.add_argument("--from-height", type=int, default=None, help="only proposals made at or after this height")
    listing.set_defaults(func=gov_list)

    show = gs.add_parser("show", help="one proposal with its votes and tally")
    add_rpc_arguments(show)
    show.add_argument("id", type=int)
    show.set_defaults(func=gov_show)

    members = gs.add_parser("members", help="the committee: members, weights and rates")
    add_rpc_arguments(members)
    members.set_defaults(func=gov_members)

    nodes = gs.add_parser("nodes", help="the on-chain node list")
    add_rpc_arguments(nodes)
    nodes.set_defaults(func=gov_nodes)

    roles = gs.add_parser("roles", help="an account's roles, deploy right, frozen flag and committee weight")
    add_rpc_arguments(roles)
    roles.add_argument("address")
    roles.set_defaults(func=gov_roles)


def _report(what: str, done: Submitted) -> None:
    print(f"proposal {done.id}: {done.status} ({what} in block {done.receipt['height']}, tx {done.receipt['tx_hash']})",
          file=sys.stderr)


def gov_propose(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    try:
        payload = json.loads(args.args)
    except ValueError as exc:
        raise CliError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise CliError("--args must be a JSON object")

    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            gov = Governance(client, await Account.connect(client, key))
            done = await gov.propose(args.type, payload, reason=args.reason, expiry_blocks=args.expiry_blocks)
        print(done.id)
        _report("proposed", done)
        return 0

    return asyncio.run(go())


def gov_vote(args: argparse.Namespace) -> int:
    key = load_key(args.key)

    async def go() -> int:
        async with RpcClient(rpc_url(args)) as client:
            gov = Governance(client, await Account.connect(client, key))
            done = await gov.vote(args.id, bool(args.yes))
        print(done.status)
        _report("voted", done)
        return 0

    return asyncio.run(go())


def _read(args: argparse.Namespace, what: str, *params: Any) -> int:
    async def go() -> Any:
        async with RpcClient(rpc_url(args)) as client:
            gov = Governance(client)
            if what == "list":
                status = OPEN if args.open else args.status
                return await gov.list(status=status, type_=args.type, from_height=args.from_height)
            if what == "show":
                return await gov.show(args.id)
            if what == "members":
                return await gov.members()
            if what == "nodes":
                return await gov.nodes()
            return await gov.roles(params[0])

    print_json(asyncio.run(go()))
    return 0


def gov_list(args: argparse.Namespace) -> int:
    if args.open and args.status not in (None, OPEN):
        raise CliError("--open and --status disagree")
    return _read(args, "list")


def gov_show(args: argparse.Namespace) -> int:
    return _read(args, "show")


def gov_members(args: argparse.Namespace) -> int:
    return _read(args, "members")


def gov_nodes(args: argparse.Namespace) -> int:
    return _read(args, "nodes")


def gov_roles(args: argparse.Namespace) -> int:
    address = parse_address(args.address)
    if len(address) != 20:
        raise CliError("the address must be 20 bytes")
    return _read(args, "roles", address)
