"""``state_*``: read-only contract calls on the head state."""

from __future__ import annotations

from typing import Any

from node.errors import InvalidParams
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import hx, parse_hex
from node.rpc.registry import rpc_method
from node.wire.types import MAX_METHOD_LEN, MAX_TX_BYTES


@rpc_method("state_call")
async def state_call(env: RpcEnv, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise InvalidParams("'call' must be an object {to, method, args}")
    unknown = set(call) - {"to", "method", "args", "from"}
    if unknown:
        raise InvalidParams(f"unknown fields in call: {sorted(unknown)}")
    to = parse_hex(call.get("to"), "to", size=20)
    method = call.get("method")
    if not isinstance(method, str) or not method or len(method) > MAX_METHOD_LEN:
        raise InvalidParams("'method' must be a non-empty string")
    args = parse_hex(call.get("args", "0x"), "args", max_size=MAX_TX_BYTES)
    sender = parse_hex(call["from"], "from", size=20) if "from" in call else bytes(20)
    return {"return_value": hx(await env.chain.query_async(to, method, args, sender=sender))}
