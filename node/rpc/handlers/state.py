"""``state_*``: read-only contract calls on the head state."""

from __future__ import annotations

from typing import Any

from node.errors import InvalidParams
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import hx, parse_hex
from node.rpc.params import bool_param
from node.rpc.registry import rpc_method
from node.wire.types import MAX_TX_BYTES, METHOD_RE


@rpc_method("state_call")
async def state_call(env: RpcEnv, to: Any, method: Any, args: Any = "0x", from_: Any = None, proof: Any = False) -> dict[str, Any]:
    """Parameters like every method's: ``[to, method, args, from, proof]`` or ``{to, method, args, from, proof}``.
    With ``proof``, the answer carries a proof of every state entry the call read."""
    address = parse_hex(to, "to", size=20)
    if not isinstance(method, str) or not METHOD_RE.match(method):
        raise InvalidParams("'method' must be a method name: [A-Za-z_][A-Za-z0-9_.]{0,63}")
    call_args = parse_hex(args, "args", max_size=MAX_TX_BYTES)
    sender = bytes(20) if from_ is None else parse_hex(from_, "from", size=20)
    if not bool_param(proof, "proof"):
        return {"return_value": hx(await env.chain.query_async(address, method, call_args, sender=sender))}
    result, call_proof = await env.chain.query_proven_async(address, method, call_args, sender=sender)
    return {"return_value": hx(result), "proof": call_proof.to_json()}
