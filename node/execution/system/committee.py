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

Stored layout (under ``COMMITTEE_ADDRESS``, every value canonical msgpack):
``members`` = ``[[address, weight], ...]`` sorted by address; ``rates`` = ``{participation, win}``
(percent); ``next_id`` = int; ``open`` = ``[[id, expiry_height], ...]`` ascending by id;
``proposal/<id: 8-byte big-endian>`` = the ``Proposal.to_map`` map.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from node.errors import CryptoError
from node.execution.context import CallContext, Revert
from node.execution.system import acl, sysconfig
from node.execution.system.base import SystemContract, method, read_key, require_arg, system_address, write_key
from node.state import StateReader
from node.wire import codec

COMMITTEE_ADDRESS = system_address(0x4000)

_MEMBERS = b"members"
_RATES = b"rates"
_NEXT_ID = b"next_id"
_OPEN = b"open"
_PROPOSAL = b"proposal/"

DEFAULT_PARTICIPATION = 51  # percent of the total weight that must have voted
DEFAULT_WIN = 51  # percent of the participating weight that must have voted yes
MAX_WEIGHT = 1_000_000
MAX_MEMBERS = 100
MAX_OPEN = 100  # open proposals at once: bounds the expiry sweep every committee transaction does
MAX_REASON_BYTES = 1_024
DEFAULT_EXPIRY_BLOCKS = 10_000
MAX_EXPIRY_BLOCKS = 1_000_000
LIST_LIMIT = 100  # proposals one ``proposals`` query returns at most
LIST_SCAN = 2_000  # proposal ids one ``proposals`` query looks at at most

# Fewest validators each engine keeps running with: PBFT tolerates f faults with 3f + 1, Raft f
# with 2f + 1; below 4 (3) it tolerates none. Chains started with fewer may grow, never shrink.
MIN_VALIDATORS = {"pbft": 4, "raft": 3}

OPEN, EXECUTED, FAILED, REJECTED, EXPIRED = "open", "executed", "failed", "rejected", "expired"
STATUSES = (OPEN, EXECUTED, FAILED, REJECTED, EXPIRED)

_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}$")


def _key(suffix: bytes) -> bytes:
    return COMMITTEE_ADDRESS + suffix


def proposal_key(proposal_id: int) -> bytes:
    return COMMITTEE_ADDRESS + _PROPOSAL + proposal_id.to_bytes(8, "big")


# --- members and rates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    participation: int
    win: int

    def encode(self) -> bytes:
        return codec.encode({"participation": self.participation, "win": self.win})


def check_rates(participation: object, win: object) -> Rates:
    """The rates if they are allowed (participation 0..100, win 1..100); raises Revert otherwise."""
    for name, value in (("participation", participation), ("win", win)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Revert(f"'{name}' must be an integer percentage")
    assert isinstance(participation, int) and isinstance(win, int)
    if not 0 <= participation <= 100:
        raise Revert(f"participation rate {participation}% is outside 0..100%")
    if not 1 <= win <= 100:
        raise Revert(f"win rate {win}% is outside 1..100%: a zero win rate would pass proposals nobody supports")
    return Rates(participation, win)


def encode_members(members: dict[bytes, int]) -> bytes:
    return codec.encode([[address, weight] for address, weight in sorted(members.items())])


def read_members(state: StateReader) -> dict[bytes, int]:
    raw = state.get(_key(_MEMBERS))
    return {} if raw is None else {bytes(a): int(w) for a, w in codec.decode(raw)}


def read_rates(state: StateReader) -> Rates:
    raw = state.get(_key(_RATES))
    if raw is None:
        return Rates(DEFAULT_PARTICIPATION, DEFAULT_WIN)
    m = codec.decode(raw)
    return Rates(int(m["participation"]), int(m["win"]))


def genesis_writes(members: dict[bytes, int], rates: Rates) -> dict[bytes, bytes]:
    """The committee's state at genesis."""
    return {_key(_MEMBERS): encode_members(members), _key(_RATES): rates.encode(), _key(_NEXT_ID): codec.encode(1),
            _key(_OPEN): codec.encode([])}


# --- proposals -------------------------------------------------------------------------------


@dataclass
class Proposal:
    id: int
    type: str
    payload: dict[str, Any]
    proposer: bytes
    reason: str
    height: int  # proposed in this block
    expiry_height: int  # votes are accepted in blocks below this height
    status: str = OPEN
    votes: dict[bytes, bool] = field(default_factory=dict)
    closed_height: int = 0  # the block that closed it (0 while open)
    error: str = ""  # why execution failed (status ``failed``)

    def to_map(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "payload": self.payload, "proposer": self.proposer, "reason": self.reason,
                "height": self.height, "expiry_height": self.expiry_height, "status": self.status,
                "votes": [[voter, yes] for voter, yes in sorted(self.votes.items())], "closed_height": self.closed_height,
                "error": self.error}

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Proposal:
        return cls(id=m["id"], type=m["type"], payload=m["payload"], proposer=m["proposer"], reason=m["reason"],
                   height=m["height"], expiry_height=m["expiry_height"], status=m["status"],
                   votes={bytes(v): bool(y) for v, y in m["votes"]}, closed_height=m["closed_height"], error=m["error"])

    def effective_status(self, height: int) -> str:
        """The status as of block ``height``: an open proposal past its expiry reads as expired."""
        return EXPIRED if self.status == OPEN and height >= self.expiry_height else self.status


def read_proposal(state: StateReader, proposal_id: int) -> Proposal | None:
    raw = state.get(proposal_key(proposal_id))
    return None if raw is None else Proposal.from_map(codec.decode(raw))


def next_proposal_id(state: StateReader) -> int:
    raw = state.get(_key(_NEXT_ID))
    return 1 if raw is None else int(codec.decode(raw))


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    total: int

    @classmethod
    def of(cls, proposal: Proposal, members: dict[bytes, int]) -> Tally:
        yes = sum(members[v] for v, y in proposal.votes.items() if y and v in members)
        no = sum(members[v] for v, y in proposal.votes.items() if not y and v in members)
        return cls(yes=yes, no=no, total=sum(members.values()))

    def passed(self, rates: Rates) -> bool:
        participating = self.yes + self.no
        return (self.yes > 0 and participating * 100 >= rates.participation * self.total
                and self.yes * 100 >= rates.win * participating)

    def rejected(self, rates: Rates) -> bool:
        """Not even every remaining member voting yes could reach the win rate."""
        return (self.total - self.no) * 100 < rates.win * self.total


# --- proposal types: payload fields, the check at propose and execution time, the effect ------


@dataclass(frozen=True)
class Field:
    kind: str  # "address" (20 bytes), "pubkey" (bytes), "int", "str", "role"
    required: bool = True


_KINDS: dict[str, type] = {"address": bytes, "pubkey": bytes, "int": int, "str": str, "role": str}


@dataclass(frozen=True)
class ProposalType:
    name: str
    fields: dict[str, Field]
    check: Callable[[CallContext, dict[str, Any]], None]  # raises Revert when the payload may not execute now
    apply: Callable[[CallContext, dict[str, Any]], None]
    doc: str


def _normalize(ptype: ProposalType, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its fields type-checked; unknown or missing fields are refused."""
    unknown = sorted(set(payload) - set(ptype.fields))
    if unknown:
        raise Revert(f"{ptype.name}: unknown payload field '{unknown[0]}' (fields: {', '.join(ptype.fields)})")
    out: dict[str, Any] = {}
    for name, spec in ptype.fields.items():
        if name not in payload:
            if spec.required:
                raise Revert(f"{ptype.name}: missing payload field '{name}'")
            continue
        value: Any = payload[name]
        kind = _KINDS[spec.kind]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise Revert(f"{ptype.name}: payload field '{name}' must be {spec.kind}")
        if spec.kind == "address" and isinstance(value, bytes) and len(value) != 20:
            raise Revert(f"{ptype.name}: payload field '{name}' must be a 20-byte address")
        if spec.kind == "role" and value not in acl.ROLES:
            raise Revert(f"{ptype.name}: unknown role '{value}' (known: {', '.join(acl.ROLES)})")
        out[name] = value
    return out


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _weight(p: dict[str, Any]) -> int:
    weight = int(p["weight"])
    if not 1 <= weight <= MAX_WEIGHT:
        raise Revert(f"weight must be 1..{MAX_WEIGHT}")
    return weight


def _member_weight(ctx: CallContext, address: bytes) -> int:
    weight = read_members(ctx.state).get(address)
    if weight is None:
        raise Revert(f"{_hex(address)} is not a committee member")
    return weight


def _write_members(ctx: CallContext, members: dict[bytes, int]) -> None:
    write_key(ctx, _key(_MEMBERS), encode_members(members))


def _check_add_member(ctx: CallContext, p: dict[str, Any]) -> None:
    _weight(p)
    members = read_members(ctx.state)
    if p["address"] in members:
        raise Revert(f"{_hex(p['address'])} is already a committee member")
    if len(members) >= MAX_MEMBERS:
        raise Revert(f"the committee already has the most members allowed ({MAX_MEMBERS})")
    if acl.is_frozen(ctx.state, p["address"]):
        raise Revert(f"{_hex(p['address'])} is frozen: a frozen account could not vote")


def _apply_add_member(ctx: CallContext, p: dict[str, Any]) -> None:
    _write_members(ctx, {**read_members(ctx.state), p["address"]: p["weight"]})


def _check_remove_member(ctx: CallContext, p: dict[str, Any]) -> None:
    _member_weight(ctx, p["address"])
    if len(read_members(ctx.state)) == 1:
        raise Revert("cannot remove the last committee member: nobody could govern the chain")


def _apply_remove_member(ctx: CallContext, p: dict[str, Any]) -> None:
    members = read_members(ctx.state)
    del members[p["address"]]
    _write_members(ctx, members)


def _check_set_weight(ctx: CallContext, p: dict[str, Any]) -> None:
    weight = _weight(p)
    if _member_weight(ctx, p["address"]) == weight:
        raise Revert(f"{_hex(p['address'])} already has weight {weight}")


def _apply_set_weight(ctx: CallContext, p: dict[str, Any]) -> None:
    _write_members(ctx, {**read_members(ctx.state), p["address"]: p["weight"]})


def _check_set_rates(ctx: CallContext, p: dict[str, Any]) -> None:
    if check_rates(p["participation"], p["win"]) == read_rates(ctx.state):
        raise Revert("the rates are already these")


def _apply_set_rates(ctx: CallContext, p: dict[str, Any]) -> None:
    write_key(ctx, _key(_RATES), Rates(p["participation"], p["win"]).encode())


def _existing_node(ctx: CallContext, pubkey: bytes) -> sysconfig.NodeRecord:
    record = sysconfig.read_node(ctx.state, pubkey)
    if record is None:
        raise Revert(f"node {_hex(pubkey)} is not in the node list")
    return record


def _check_fewer_validators(ctx: CallContext) -> None:
    engine = sysconfig.consensus_engine(ctx.state)
    minimum = MIN_VALIDATORS.get(engine, 1)
    left = sysconfig.validator_count(ctx.state) - 1
    if left < minimum:
        raise Revert(f"the network would have {left} validator(s); {engine or 'its engine'} needs at least {minimum}")


def _check_admit_observer(ctx: CallContext, p: dict[str, Any]) -> None:
    suite = ctx.block.suite
    if suite is None:
        raise Revert("this executor has no crypto suite to check node keys with")
    try:
        suite.validate_public_key(p["pubkey"])
    except CryptoError as exc:
        raise Revert(f"admit_observer: pubkey is not a valid {suite.name} public key ({exc.message})") from None
    if sysconfig.read_node(ctx.state, p["pubkey"]) is not None:
        raise Revert(f"node {_hex(p['pubkey'])} is already in the node list")
    if not _NODE_NAME_RE.match(p["name"]):
        raise Revert("admit_observer: name must be 1-64 characters of A-Z a-z 0-9 _ . -")
    if not _HOST_RE.match(p["host"]):
        raise Revert("admit_observer: host must be a host name or IP address")
    if not 0 < p["p2p_port"] < 65536:
        raise Revert("admit_observer: p2p_port must be 1..65535")
    if "organisation" in p and not 1 <= len(p["organisation"].encode()) <= 64:
        raise Revert("admit_observer: organisation must be 1-64 bytes")


def _apply_admit_observer(ctx: CallContext, p: dict[str, Any]) -> None:
    record = sysconfig.NodeRecord(pubkey=p["pubkey"], name=p["name"], role="observer", host=p["host"], p2p_port=p["p2p_port"])
    sysconfig.write_node(ctx, record, p.get("organisation", p["name"]))


def _check_promote(ctx: CallContext, p: dict[str, Any]) -> None:
    if _existing_node(ctx, p["pubkey"]).role != "observer":
        raise Revert(f"node {_hex(p['pubkey'])} is not an observer")


def _set_role(ctx: CallContext, pubkey: bytes, role: str) -> None:
    record = _existing_node(ctx, pubkey)
    meta = sysconfig.read_node_meta(ctx.state, record)
    sysconfig.write_node(ctx, replace(record, role=role), meta.organisation)


def _check_demote(ctx: CallContext, p: dict[str, Any]) -> None:
    if _existing_node(ctx, p["pubkey"]).role != "validator":
        raise Revert(f"node {_hex(p['pubkey'])} is not a validator")
    _check_fewer_validators(ctx)


def _check_remove_node(ctx: CallContext, p: dict[str, Any]) -> None:
    if _existing_node(ctx, p["pubkey"]).role == "validator":
        _check_fewer_validators(ctx)


def _check_set_param(ctx: CallContext, p: dict[str, Any]) -> None:
    # Setting the value in force is allowed: it records a decision and changes nothing.
    sysconfig.check_param(ctx.state, p["key"], p["value"])


def _apply_set_param(ctx: CallContext, p: dict[str, Any]) -> None:
    sysconfig.set_param(ctx, p["key"], p["value"])


def _flag_check(read: Callable[[StateReader, bytes], bool], want: bool, message: str) -> Callable[[CallContext, dict[str, Any]], None]:
    def check(ctx: CallContext, p: dict[str, Any]) -> None:
        if read(ctx.state, p["address"]) != want:
            raise Revert(f"{_hex(p['address'])} {message}")

    return check


def _check_freeze(ctx: CallContext, p: dict[str, Any]) -> None:
    _flag_check(acl.is_frozen, False, "is already frozen")(ctx, p)
    if p["address"] in read_members(ctx.state):
        raise Revert(f"{_hex(p['address'])} is a committee member: remove it from the committee before freezing it")


def _check_grant_role(ctx: CallContext, p: dict[str, Any]) -> None:
    if acl.has_role(ctx.state, p["address"], p["role"]):
        raise Revert(f"{_hex(p['address'])} already holds the role {p['role']}")


def _check_revoke_role(ctx: CallContext, p: dict[str, Any]) -> None:
    if not acl.has_role(ctx.state, p["address"], p["role"]):
        raise Revert(f"{_hex(p['address'])} does not hold the role {p['role']}")
    if p["role"] == "regulator" and acl.role_count(ctx.state, "regulator") <= 1:
        raise Revert("cannot revoke the last regulator: the consortium must keep one")


_ADDRESS = {"address": Field("address")}
_PUBKEY = {"pubkey": Field("pubkey")}
_ROLE = {"address": Field("address"), "role": Field("role")}

PROPOSAL_TYPES: dict[str, ProposalType] = {t.name: t for t in (
    ProposalType("add_member", {"address": Field("address"), "weight": Field("int")}, _check_add_member, _apply_add_member,
                 "add a committee member with a voting weight"),
    ProposalType("remove_member", _ADDRESS, _check_remove_member, _apply_remove_member, "remove a committee member"),
    ProposalType("set_weight", {"address": Field("address"), "weight": Field("int")}, _check_set_weight, _apply_set_weight,
                 "change a member's voting weight"),
    ProposalType("set_rates", {"participation": Field("int"), "win": Field("int")}, _check_set_rates, _apply_set_rates,
                 "change the participation and win rates (percent)"),
    ProposalType("admit_observer", {"pubkey": Field("pubkey"), "name": Field("str"), "host": Field("str"),
                                    "p2p_port": Field("int"), "organisation": Field("str", required=False)},
                 _check_admit_observer, _apply_admit_observer, "add a node to the node list as an observer"),
    ProposalType("promote_validator", _PUBKEY, _check_promote, lambda ctx, p: _set_role(ctx, p["pubkey"], "validator"),
                 "make an observer a validator"),
    ProposalType("demote_validator", _PUBKEY, _check_demote, lambda ctx, p: _set_role(ctx, p["pubkey"], "observer"),
                 "make a validator an observer"),
    ProposalType("remove_node", _PUBKEY, _check_remove_node, lambda ctx, p: sysconfig.remove_node(ctx, p["pubkey"]),
                 "take a node off the node list"),
    ProposalType("set_param", {"key": Field("str"), "value": Field("int")}, _check_set_param, _apply_set_param,
                 "set a chain parameter"),
    ProposalType("grant_deploy", _ADDRESS, _flag_check(acl.can_deploy, False, "may already deploy contracts"),
                 lambda ctx, p: acl.grant_deploy(ctx, p["address"]), "allow an account to deploy contracts"),
    ProposalType("revoke_deploy", _ADDRESS, _flag_check(acl.can_deploy, True, "may not deploy contracts"),
                 lambda ctx, p: acl.revoke_deploy(ctx, p["address"]), "withdraw an account's deploy rights"),
    ProposalType("freeze", _ADDRESS, _check_freeze, lambda ctx, p: acl.freeze(ctx, p["address"]),
                 "refuse an account's transactions"),
    ProposalType("unfreeze", _ADDRESS, _flag_check(acl.is_frozen, True, "is not frozen"),
                 lambda ctx, p: acl.unfreeze(ctx, p["address"]), "accept an account's transactions again"),
    ProposalType("grant_role", _ROLE, _check_grant_role, lambda ctx, p: acl.grant_role(ctx, p["role"], p["address"]),
                 "give an account a role"),
    ProposalType("revoke_role", _ROLE, _check_revoke_role, lambda ctx, p: acl.revoke_role(ctx, p["role"], p["address"]),
                 "take a role from an account"),
)}


def check_payload(ctx: CallContext, type_name: str, payload: object) -> dict[str, Any]:
    """The normalized payload if a proposal of ``type_name`` could execute now; raises Revert otherwise."""
    ptype = PROPOSAL_TYPES.get(type_name)
    if ptype is None:
        raise Revert(f"unknown proposal type '{type_name}' (known: {', '.join(PROPOSAL_TYPES)})")
    if not isinstance(payload, dict):
        raise Revert("'payload' must be a map")
    normalized = _normalize(ptype, payload)
    ptype.check(ctx, normalized)
    return normalized


# --- the contract ----------------------------------------------------------------------------


def _event(ctx: CallContext, name: str, data: dict[str, Any]) -> None:
    ctx.emit(name, codec.encode(data))


class Committee(SystemContract):
    """Propose and vote (members only); read members, rates and proposals (anyone)."""

    address = COMMITTEE_ADDRESS
    name = "committee"

    # --- storage -----------------------------------------------------------------------

    @staticmethod
    def _open(ctx: CallContext) -> list[tuple[int, int]]:
        raw = read_key(ctx, _key(_OPEN))
        return [] if raw is None else [(int(i), int(e)) for i, e in codec.decode(raw)]

    @staticmethod
    def _set_open(ctx: CallContext, entries: list[tuple[int, int]]) -> None:
        write_key(ctx, _key(_OPEN), codec.encode([[i, e] for i, e in sorted(entries)]))

    @staticmethod
    def _store(ctx: CallContext, proposal: Proposal) -> None:
        write_key(ctx, proposal_key(proposal.id), codec.encode(proposal.to_map()))

    @staticmethod
    def _load(ctx: CallContext, proposal_id: int) -> Proposal:
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

    def _settle(self, ctx: CallContext, proposal: Proposal, members: dict[bytes, int]) -> None:
        """Close the proposal if the votes decide it (executing it if passed), then store it and
        keep the open list in step (written only when it changes)."""
        tally = Tally.of(proposal, members)
        rates = read_rates(ctx.state)
        height = ctx.block.height
        if tally.passed(rates):
            _event(ctx, "Passed", {"id": proposal.id, "yes": tally.yes, "no": tally.no, "total": tally.total})
            proposal.closed_height = height
            child = replace(ctx, state=ctx.state.child(), events=list(ctx.events))  # emit's limit counts them all
            try:
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
        write_key(ctx, _key(_NEXT_ID), codec.encode(proposal_id + 1))
        height = ctx.block.height
        proposal = Proposal(id=proposal_id, type=type_name, payload=payload, proposer=ctx.sender, reason=reason,
                            height=height, expiry_height=height + expiry_blocks, votes={ctx.sender: True})
        _event(ctx, "Proposed", {"id": proposal_id, "type": type_name, "proposer": ctx.sender,
                                 "expiry_height": proposal.expiry_height})
        _event(ctx, "Voted", {"id": proposal_id, "voter": ctx.sender, "yes": True})
        self._settle(ctx, proposal, members)
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
        read_key(ctx, _key(_MEMBERS))
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
        if status is not None and status not in STATUSES:
            raise Revert(f"unknown status '{status}' (known: {', '.join(STATUSES)})")
        if type_name is not None and type_name not in PROPOSAL_TYPES:
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
