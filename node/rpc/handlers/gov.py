"""``gov_*``, ``node_list`` and ``acl_roles``: the committee, its proposals, the node list and account roles.

Everything is read from the head state through the system contracts' read-only methods (the
same answers ``state_call`` gives), then turned into JSON: bytes as ``0x`` hex.
"""

from __future__ import annotations

from typing import Any

from node.errors import ExecutionError, InvalidParams, NotFound
from node.execution.system.committee import LIST_LIMIT, PROPOSAL_TYPES, STATUSES
from node.execution.system.registry import address_of
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import hx, parse_hex
from node.rpc.params import int_param
from node.rpc.registry import rpc_method
from node.wire import codec

COMMITTEE = address_of("committee")
SYSCONFIG = address_of("sysconfig")
ACL = address_of("acl")


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return hx(value)
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


async def _query(env: RpcEnv, to: bytes, method: str, args: dict[str, Any] | None = None) -> Any:
    raw = await env.chain.query_async(to, method, codec.encode(args or {}))
    return codec.decode(raw) if raw else None


def _proposal_json(p: dict[str, Any]) -> dict[str, Any]:
    out = _json(p)
    out["votes"] = [{"voter": hx(v), "yes": y} for v, y in p["votes"]]
    return out


@rpc_method("gov_members")
async def gov_members(env: RpcEnv) -> dict[str, Any]:
    """The committee: members with weights, total weight, participation and win rates (percent)."""
    return _json(await _query(env, COMMITTEE, "members"))


@rpc_method("gov_getProposal")
async def gov_get_proposal(env: RpcEnv, id: Any) -> dict[str, Any]:
    proposal_id = int_param(id, "id")
    try:
        return _proposal_json(await _query(env, COMMITTEE, "proposal", {"id": proposal_id}))
    except ExecutionError as exc:
        raise NotFound(f"no proposal {proposal_id}") from exc


@rpc_method("gov_listProposals")
async def gov_list_proposals(env: RpcEnv, status: Any = None, type: Any = None, from_height: Any = 0,
                             limit: Any = LIST_LIMIT, before: Any = None) -> dict[str, Any]:
    """Newest first, at most ``limit`` (<= 100); ``next_before`` continues the listing (None: no more)."""
    args: dict[str, Any] = {"from_height": int_param(from_height, "from_height"),
                            "limit": int_param(limit, "limit", maximum=LIST_LIMIT)}
    if status is not None:
        if not isinstance(status, str) or status not in STATUSES:
            raise InvalidParams(f"'status' must be one of {', '.join(STATUSES)}")
        args["status"] = status
    if type is not None:
        if not isinstance(type, str) or type not in PROPOSAL_TYPES:
            raise InvalidParams(f"'type' must be one of {', '.join(PROPOSAL_TYPES)}")
        args["type"] = type
    if before is not None:
        args["before"] = int_param(before, "before")
        if args["before"] < 1:
            raise InvalidParams("'before' must be at least 1")
    out = await _query(env, COMMITTEE, "proposals", args)
    return {"proposals": [_proposal_json(p) for p in out["proposals"]], "next_before": out["next_before"]}


@rpc_method("node_list")
async def node_list(env: RpcEnv) -> list[dict[str, Any]]:
    """Every node on the list: id (public key), name, role, organisation, since which height it holds its role."""
    out = []
    for record in env.chain.nodes():
        entry = await _query(env, SYSCONFIG, "node", {"pubkey": record.pubkey})
        if entry is None:  # removed between the two reads
            continue
        out.append({"id": hx(record.pubkey), "name": entry["name"], "role": entry["role"],
                    "organisation": entry["organisation"], "since": entry["since"], "host": entry["host"],
                    "p2p_port": entry["p2p_port"]})
    return out


@rpc_method("acl_roles")
async def acl_roles(env: RpcEnv, address: Any) -> dict[str, Any]:
    """An account's roles, deploy right, frozen flag and committee weight (0: not a member)."""
    account = parse_hex(address, "address", size=20)
    members = await _query(env, COMMITTEE, "members")
    weight = next((m["weight"] for m in members["members"] if m["address"] == account), 0)
    return {"address": hx(account), "roles": await _query(env, ACL, "roles", {"address": account}),
            "can_deploy": await _query(env, ACL, "can_deploy", {"address": account}),
            "frozen": await _query(env, ACL, "is_frozen", {"address": account}), "committee_weight": weight}
