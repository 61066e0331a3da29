"""The governance committee: weighted members vote on typed proposals, which execute when they pass.

Every change to the consortium after genesis goes through here: the committee itself, its voting
rates, the node list, the chain parameters and the permissions. A proposal's payload is checked
when it is proposed and again when it executes (the state may have moved in between), and it
executes inside the transaction that passes it, so every node applies it in the same block.

Rules (docs/governance.md):

- Only members propose and vote. Proposing casts the proposer's yes vote.
- A vote may be changed while the proposal is open; repeating the same choice is refused.
- Tallies use the members and weights in force when they are counted; votes of removed members
  no longer count.
- Passed: ``yes + no >= participation% of total`` and ``yes >= win% of (yes + no)``.
  Rejected: even if every member who has not voted no voted yes, the win rate could not be met.
- A proposal accepts votes in blocks below its ``expiry_height``. From that height on it reads
  as expired at once; its stored status is set to ``expired`` (with an Expired event) by the
  next committee transaction that succeeds.

The stored state and the arithmetic are in ``committee_state``, the proposal types in
``proposals``; this module is the contract: propose, vote, the expiry sweep and the reads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, method, read_key, require_arg, write_key
from node.execution.system.committee_state import (
    COMMITTEE_ADDRESS,
    DEFAULT_EXPIRY_BLOCKS,
    DEFAULT_PARTICIPATION,
    DEFAULT_WIN,
    EXECUTED,
    EXPIRED,
    FAILED,
    LIST_LIMIT,
    LIST_SCAN,
    MAX_EXPIRY_BLOCKS,
    MAX_MEMBERS,
    MAX_OPEN,
    MAX_REASON_BYTES,
    MAX_WEIGHT,
    OPEN,
    REJECTED,
    STATUSES,
    Proposal,
    Rates,
    Tally,
    check_rates,
    genesis_writes,
    members_key,
    next_id_key,
    next_proposal_id,
    open_key,
    proposal_key,
    read_members,
    read_proposal,
    read_rates,
)
from node.execution.system.proposals import MIN_VALIDATORS, PROPOSAL_TYPES, check_payload
from node.wire import codec

__all__ = [  # what other modules take from here: the contract and the names of its rules
    "COMMITTEE_ADDRESS", "DEFAULT_EXPIRY_BLOCKS", "DEFAULT_PARTICIPATION", "DEFAULT_WIN", "EXECUTED", "EXPIRED", "FAILED",
    "LIST_LIMIT", "MAX_EXPIRY_BLOCKS", "MAX_MEMBERS", "MAX_OPEN", "MAX_WEIGHT", "MIN_VALIDATORS", "OPEN",
    "PROPOSAL_TYPES", "REJECTED", "STATUSES", "Committee", "Proposal", "Rates", "Tally", "check_payload", "check_rates",
    "genesis_writes", "read_members", "read_proposal", "read_rates",
]


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _event(ctx: CallContext, name: str, data: dict[str, Any]) -> None:
    ctx.emit(name, codec.encode(data))


class Committee(SystemContract):
    """Propose and vote (members only); read members, rates and proposals (anyone)."""

    address = COMMITTEE_ADDRESS
    name = "committee"

    # --- storage -----------------------------------------------------------------------

    @staticmethod
    def _open(ctx: CallContext) -> list[tuple[int, int]]:
        raw = read_key(ctx, open_key())
        return [] if raw is None else [(int(i), int(e)) for i, e in codec.decode(raw)]

    @staticmethod
    def _set_open(ctx: CallContext, entries: list[tuple[int, int]]) -> None:
        write_key(ctx, open_key(), codec.encode([[i, e] for i, e in sorted(entries)]))

    @staticmethod
    def _store(ctx: CallContext, proposal: Proposal) -> None:
        write_key(ctx, proposal_key(proposal.id), codec.encode(proposal.to_map()))

    @staticmethod
    def _load(ctx: CallContext, proposal_id: int) -> Proposal:
        if not 1 <= proposal_id < 2**63:  # ids count up from 1; anything else names no proposal
            raise Revert(f"no proposal {proposal_id}")
        read_key(ctx, proposal_key(proposal_id))
        proposal = read_proposal(ctx.state, proposal_id)
        if proposal is None:
            raise Revert(f"no proposal {proposal_id}")
        return proposal

    def _sweep(self, ctx: CallContext) -> None:
        """Mark open proposals whose expiry height is reached as expired."""
        entries = self._open(ctx)
        height = ctx.block.height
        due = [i for i, expiry in entries if height >= expiry]
        for proposal_id in due:
            proposal = self._load(ctx, proposal_id)
            proposal.status, proposal.closed_height = EXPIRED, height
            self._store(ctx, proposal)
            _event(ctx, "Expired", {"id": proposal_id, "expiry_height": proposal.expiry_height})
        if due:
            self._set_open(ctx, [(i, e) for i, e in entries if i not in due])

    def _member(self, ctx: CallContext, action: str) -> dict[bytes, int]:
        members = read_members(ctx.state)
        if ctx.sender not in members:
            raise Revert(f"only committee members may {action}; {_hex(ctx.sender)} is not one")
        return members

    def _settle(self, ctx: CallContext, proposal: Proposal, members: dict[bytes, int], *, checked: bool = False) -> None:
        """Close the proposal if the votes decide it (executing it if passed), then store it and
        keep the open list in step (written only when it changes). ``checked``: its payload was
        checked earlier in this same call (``propose``), so a proposal that passes at once is not
        checked twice over the same state."""
        tally = Tally.of(proposal, members)
        rates = read_rates(ctx.state)
        height = ctx.block.height
        if tally.passed(rates):
            _event(ctx, "Passed", {"id": proposal.id, "yes": tally.yes, "no": tally.no, "total": tally.total})
            proposal.closed_height = height
            child = replace(ctx, state=ctx.state.child(), events=list(ctx.events))  # emit's limit counts them all
            try:
                if not checked:
                    PROPOSAL_TYPES[proposal.type].check(child, proposal.payload)
                PROPOSAL_TYPES[proposal.type].apply(child, proposal.payload)
            except Revert as exc:
                proposal.status, proposal.error = FAILED, exc.message
                _event(ctx, "Failed", {"id": proposal.id, "error": exc.message})
            else:
                child.state.merge_into(ctx.state)
                ctx.events[:] = child.events  # already charged; each keeps the contract that emitted it
                proposal.status = EXECUTED
                _event(ctx, "Executed", {"id": proposal.id, "type": proposal.type})
        elif tally.rejected(rates):
            proposal.status, proposal.closed_height = REJECTED, height
            _event(ctx, "Rejected", {"id": proposal.id, "yes": tally.yes, "no": tally.no, "total": tally.total})
        entries = self._open(ctx)
        listed = any(i == proposal.id for i, _ in entries)
        if proposal.status == OPEN and not listed:
            self._set_open(ctx, [*entries, (proposal.id, proposal.expiry_height)])
        elif proposal.status != OPEN and listed:
            self._set_open(ctx, [(i, e) for i, e in entries if i != proposal.id])
        self._store(ctx, proposal)

    # --- transactions ------------------------------------------------------------------

    @method()
    def propose(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """``{type, payload, reason?, expiry_blocks?}`` -> ``{id, status, expiry_height}``."""
        unknown = sorted(set(args) - {"type", "payload", "reason", "expiry_blocks"})
        if unknown:
            raise Revert(f"unknown argument '{unknown[0]}' (arguments: type, payload, reason, expiry_blocks)")
        self._sweep(ctx)
        members = self._member(ctx, "propose")
        type_name = require_arg(args, "type", str)
        reason = args.get("reason", "")
        if not isinstance(reason, str) or len(reason.encode()) > MAX_REASON_BYTES:
            raise Revert(f"'reason' must be text of at most {MAX_REASON_BYTES} bytes")
        expiry_blocks = args.get("expiry_blocks", DEFAULT_EXPIRY_BLOCKS)
        if not isinstance(expiry_blocks, int) or isinstance(expiry_blocks, bool) or not 1 <= expiry_blocks <= MAX_EXPIRY_BLOCKS:
            raise Revert(f"'expiry_blocks' must be an integer 1..{MAX_EXPIRY_BLOCKS}")
        payload = check_payload(ctx, type_name, require_arg(args, "payload", dict))
        entries = self._open(ctx)
        if len(entries) >= MAX_OPEN:
            raise Revert(f"{MAX_OPEN} proposals are already open; vote on them or let them expire first")
        if type_name == "admit_observer":
            for proposal_id, _ in entries:
                other = self._load(ctx, proposal_id)
                if other.type == "admit_observer" and other.payload["pubkey"] == payload["pubkey"]:
                    raise Revert(f"proposal {proposal_id} already proposes admitting node {_hex(payload['pubkey'])}")
        proposal_id = next_proposal_id(ctx.state)
        write_key(ctx, next_id_key(), codec.encode(proposal_id + 1))
        height = ctx.block.height
        proposal = Proposal(id=proposal_id, type=type_name, payload=payload, proposer=ctx.sender, reason=reason,
                            height=height, expiry_height=height + expiry_blocks, votes={ctx.sender: True})
        _event(ctx, "Proposed", {"id": proposal_id, "type": type_name, "proposer": ctx.sender,
                                 "expiry_height": proposal.expiry_height})
        _event(ctx, "Voted", {"id": proposal_id, "voter": ctx.sender, "yes": True})
        self._settle(ctx, proposal, members, checked=True)  # check_payload above, over the same state
        return {"id": proposal_id, "status": proposal.status, "expiry_height": proposal.expiry_height}

    @method()
    def vote(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """``{id, yes}`` -> ``{id, status}``; a member may change its vote while the proposal is open."""
        unknown = sorted(set(args) - {"id", "yes"})
        if unknown:
            raise Revert(f"unknown argument '{unknown[0]}' (arguments: id, yes)")
        self._sweep(ctx)
        proposal_id = require_arg(args, "id", int)
        yes = require_arg(args, "yes", bool)
        members = self._member(ctx, "vote")
        proposal = self._load(ctx, proposal_id)
        status = proposal.effective_status(ctx.block.height)
        if status == EXPIRED:
            raise Revert(f"proposal {proposal_id} expired at height {proposal.expiry_height}; votes are closed")
        if status != OPEN:
            raise Revert(f"proposal {proposal_id} is {status}; votes are closed")
        if proposal.votes.get(ctx.sender) is yes:
            raise Revert(f"{_hex(ctx.sender)} already voted {'yes' if yes else 'no'} on proposal {proposal_id}")
        changed = ctx.sender in proposal.votes
        proposal.votes[ctx.sender] = yes
        _event(ctx, "Voted", {"id": proposal_id, "voter": ctx.sender, "yes": yes, "changed": changed})
        self._settle(ctx, proposal, members)
        return {"id": proposal_id, "status": proposal.status}

    # --- queries -----------------------------------------------------------------------

    @staticmethod
    def _now(ctx: CallContext) -> int:
        """The height a vote sent now would at best land in: the next block, for a query on the head."""
        return ctx.block.height + 1 if ctx.read_only else ctx.block.height

    def _view(self, ctx: CallContext, proposal: Proposal, members: dict[bytes, int]) -> dict[str, Any]:
        tally = Tally.of(proposal, members)
        return {**proposal.to_map(), "status": proposal.effective_status(self._now(ctx)),
                "tally": {"yes": tally.yes, "no": tally.no, "total": tally.total}}

    @method(read_only=True)
    def members(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        read_key(ctx, members_key())
        members = read_members(ctx.state)
        rates = read_rates(ctx.state)
        return {"members": [{"address": a, "weight": w} for a, w in sorted(members.items())],
                "total_weight": sum(members.values()), "participation_rate": rates.participation, "win_rate": rates.win}

    @method(read_only=True)
    def proposal(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        proposal = self._load(ctx, require_arg(args, "id", int))
        return self._view(ctx, proposal, read_members(ctx.state))

    @method(read_only=True)
    def proposals(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first: ``{status?, type?, from_height?, before?, limit?}`` -> ``{proposals, next_before}``.
        ``next_before`` (or None) continues the listing where this page's scan stopped."""
        status = args.get("status")
        type_name = args.get("type")
        from_height = args.get("from_height", 0)
        limit = args.get("limit", LIST_LIMIT)
        if status is not None and (not isinstance(status, str) or status not in STATUSES):
            raise Revert(f"unknown status '{status}' (known: {', '.join(STATUSES)})")
        if type_name is not None and (not isinstance(type_name, str) or type_name not in PROPOSAL_TYPES):
            raise Revert(f"unknown proposal type '{type_name}'")
        for name, value in (("from_height", from_height), ("limit", limit)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise Revert(f"'{name}' must be a non-negative integer")
        limit = min(limit, LIST_LIMIT)
        before = args.get("before", next_proposal_id(ctx.state))
        if not isinstance(before, int) or isinstance(before, bool) or before < 1:
            raise Revert("'before' must be a positive integer")
        members = read_members(ctx.state)
        out: list[dict[str, Any]] = []
        proposal_id = min(before, next_proposal_id(ctx.state)) - 1
        scanned, exhausted = 0, False
        while proposal_id >= 1 and len(out) < limit and scanned < LIST_SCAN:
            scanned += 1
            proposal = self._load(ctx, proposal_id)
            proposal_id -= 1
            if proposal.height < from_height:
                exhausted = True  # ids grow with height: every older one is below from_height too
                break
            view = self._view(ctx, proposal, members)
            if (status is None or view["status"] == status) and (type_name is None or proposal.type == type_name):
                out.append(view)
        return {"proposals": out, "next_before": proposal_id + 1 if proposal_id >= 1 and not exhausted else None}
