"""``state_getProof``: one state entry (or its absence) with a proof a client checks on its own.

The proof format and how to check it: docs/state-proofs.md; ``node.sdk.verify.verify_state_proof``.
"""

from __future__ import annotations

from typing import Any

from node.errors import NotFound
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import parse_hex
from node.rpc.params import int_param
from node.rpc.registry import rpc_method
from node.wire.types import MAX_TX_BYTES


@rpc_method("state_getProof")
def state_get_proof(env: RpcEnv, key: Any, height: Any = None) -> dict[str, Any]:
    state_key = parse_hex(key, "key", max_size=MAX_TX_BYTES)
    head = env.reader.height
    at = head if height is None else int_param(height, "height")
    if at > head:
        raise NotFound(f"no block at height {at}: the head is {head}")
    proof = env.reader.state_proof(state_key, at)
    if proof is None:
        raise NotFound(f"block {at} is not in this node's store")
    return proof.to_json()
