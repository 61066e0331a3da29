"""Governance from a client: propose, vote, list, show, members, node list and roles, wait for execution.

Transactions go to the committee system contract; reads use the ``gov_*``, ``node_list`` and
``acl_roles`` JSON-RPC methods, which answer in JSON (bytes as ``0x`` hex). Payload fields that
are addresses or public keys may be given as ``0x`` hex strings or bytes (docs/governance.md).
"""

from __future__ import annotations

import asyncio
import builtins
import time
from dataclasses import dataclass
from typing import Any

from node.errors import ConsortiaError, InvalidParams
from node.execution.system.committee import EXECUTED, OPEN, PROPOSAL_TYPES
from node.execution.system.registry import address_of
from node.sdk.args import decode_return
from node.sdk.client import Account, RpcClient

COMMITTEE = address_of("committee")
PROPOSE_FUEL = 1_000_000  # a proposal that executes at once uses ~5,000-50,000; capped by the chain's max_tx_fuel


class GovernanceError(ConsortiaError):
    """A governance transaction failed (its receipt's error), or a proposal closed without executing."""

    def __init__(self, message: str, receipt: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt


def _bytes_field(value: Any, name: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise InvalidParams(f"payload field '{name}' must be 0x-prefixed hex")


def proposal_args(type_: str, payload: dict[str, Any], *, reason: str = "", expiry_blocks: int | None = None) -> dict[str, Any]:
    """The committee's ``propose`` arguments; hex strings become bytes where the type's field is bytes.

    Only the field encoding is done here: the committee itself checks everything else and
    reverts with the reason."""
    ptype = PROPOSAL_TYPES.get(type_)
    if ptype is None:
        raise InvalidParams(f"unknown proposal type '{type_}' (known: {', '.join(PROPOSAL_TYPES)})")
    if not isinstance(payload, dict):
        raise InvalidParams("the payload must be a JSON object")
    converted = {}
    for name, value in payload.items():
        spec = ptype.fields.get(name)
        converted[name] = _bytes_field(value, name) if spec is not None and spec.kind in ("address", "pubkey") else value
    args: dict[str, Any] = {"type": type_, "payload": converted}
    if reason:
        args["reason"] = reason
    if expiry_blocks is not None:
        args["expiry_blocks"] = expiry_blocks
    return args


def param_proposal(key: str, value: int, *, reason: str = "") -> dict[str, Any]:
    """``propose`` arguments for a ``set_param`` proposal: the one way to change a chain parameter."""
    return proposal_args("set_param", {"key": key, "value": value}, reason=reason)


@dataclass(frozen=True)
class Submitted:
    """A governance transaction's outcome: the proposal, its status after this transaction, the receipt."""

    id: int
    status: str
    receipt: dict[str, Any]


class Governance:
    """Committee operations over one node; ``account`` signs proposals and votes."""

    def __init__(self, client: RpcClient, account: Account | None = None) -> None:
        self.client = client
        self.account = account

    async def _send(self, method: str, args: dict[str, Any], timeout: float) -> Submitted:
        if self.account is None:
            raise ConsortiaError("this Governance has no account to sign with")
        max_fuel = int((await self.client.node_info())["params"]["max_tx_fuel"])
        result = await self.account.send(COMMITTEE, method, args, fuel_limit=min(PROPOSE_FUEL, max_fuel), timeout=timeout)
        receipt = result["receipt"]
        if not receipt["ok"]:
            raise GovernanceError(f"{method} failed: {receipt['error']}", receipt)
        out = decode_return(bytes.fromhex(receipt["return_value"][2:]))
        return Submitted(id=int(out["id"]), status=str(out["status"]), receipt=receipt)

    async def propose(self, type_: str, payload: dict[str, Any], *, reason: str = "", expiry_blocks: int | None = None,
                      timeout: float = 30.0) -> Submitted:
        """Propose (casting the proposer's yes vote) and wait for the receipt."""
        return await self._send("propose", proposal_args(type_, payload, reason=reason, expiry_blocks=expiry_blocks), timeout)

    async def vote(self, proposal_id: int, yes: bool, *, timeout: float = 30.0) -> Submitted:
        return await self._send("vote", {"id": proposal_id, "yes": yes}, timeout)

    async def members(self) -> dict[str, Any]:
        return await self.client.call("gov_members")

    async def list(self, *, status: str | None = None, type_: str | None = None, from_height: int | None = None,
                   limit: int | None = None, before: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, value in (("status", status), ("type", type_), ("from_height", from_height), ("limit", limit),
                            ("before", before)):
            if value is not None:
                params[name] = value
        return await self.client.call_named("gov_listProposals", params)

    async def show(self, proposal_id: int) -> dict[str, Any]:
        return await self.client.call("gov_getProposal", proposal_id)

    async def nodes(self) -> builtins.list[dict[str, Any]]:
        return await self.client.call("node_list")

    async def roles(self, address: bytes | str) -> dict[str, Any]:
        return await self.client.call("acl_roles", address if isinstance(address, str) else "0x" + address.hex())

    async def wait_for_execution(self, proposal_id: int, *, timeout: float = 60.0, poll: float = 0.2) -> dict[str, Any]:
        """The proposal once executed; GovernanceError if it closes otherwise, ReceiptTimeout-like error on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            proposal = await self.show(proposal_id)
            if proposal["status"] == EXECUTED:
                return proposal
            if proposal["status"] != OPEN:
                detail = f": {proposal['error']}" if proposal.get("error") else ""
                raise GovernanceError(f"proposal {proposal_id} is {proposal['status']}{detail}")
            if time.monotonic() > deadline:
                raise GovernanceError(f"proposal {proposal_id} still open after {timeout:.0f}s")
            await asyncio.sleep(poll)
