"""The fifteen proposal types: each one's payload fields, its check and its effect.

A check runs when a proposal is made and again when it passes (the state may have moved in
between); it raises Revert with the reason when the proposal could not execute now, and changes
nothing. An effect writes through the plain write functions of the storage it changes:
``committee_state`` (members, rates), ``sysconfig`` (parameters, node list), ``acl``
(roles, deploy rights, freezes). docs/governance.md lists every type's payload and refusals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from node.errors import CryptoError
from node.execution.context import CallContext, Revert
from node.execution.system import acl, sysconfig
from node.execution.system.committee_state import (
    MAX_MEMBERS,
    MAX_WEIGHT,
    Rates,
    check_rates,
    read_members,
    read_rates,
    write_members,
    write_rates,
)
from node.state import StateReader

# Fewest validators each engine keeps running with: PBFT tolerates f faults with 3f + 1, Raft f
# with 2f + 1; below 4 (3) it tolerates none. Chains started with fewer may grow, never shrink.
MIN_VALIDATORS = {"pbft": 4, "raft": 3}

_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}$")


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
    write_members(ctx, {**read_members(ctx.state), p["address"]: p["weight"]})


def _check_remove_member(ctx: CallContext, p: dict[str, Any]) -> None:
    _member_weight(ctx, p["address"])
    if len(read_members(ctx.state)) == 1:
        raise Revert("cannot remove the last committee member: nobody could govern the chain")


def _apply_remove_member(ctx: CallContext, p: dict[str, Any]) -> None:
    members = read_members(ctx.state)
    del members[p["address"]]
    write_members(ctx, members)


def _check_set_weight(ctx: CallContext, p: dict[str, Any]) -> None:
    weight = _weight(p)
    if _member_weight(ctx, p["address"]) == weight:
        raise Revert(f"{_hex(p['address'])} already has weight {weight}")


def _apply_set_weight(ctx: CallContext, p: dict[str, Any]) -> None:
    write_members(ctx, {**read_members(ctx.state), p["address"]: p["weight"]})


def _check_set_rates(ctx: CallContext, p: dict[str, Any]) -> None:
    if check_rates(p["participation"], p["win"]) == read_rates(ctx.state):
        raise Revert("the rates are already these")


def _apply_set_rates(ctx: CallContext, p: dict[str, Any]) -> None:
    write_rates(ctx, Rates(p["participation"], p["win"]))


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
