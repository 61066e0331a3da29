"""``tx_*``: submitting transactions, reading them and their receipts (with inclusion proofs)."""

from __future__ import annotations

from typing import Any

from node.errors import ConsortiaError, InvalidTransaction, NotFound
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import hx, parse_hex, receipt_json, tx_json
from node.rpc.params import bool_param
from node.rpc.registry import rpc_method
from node.txcheck import decode_and_check


@rpc_method("tx_send")
async def tx_send(env: RpcEnv, raw: Any) -> str:
    # No size limit here: an oversized transaction is refused by admission like any other
    # (invalid_transaction), with the body limit bounding what reaches this point.
    data = parse_hex(raw, "raw")
    _refuse_if_expired_at_the_network(env, data)
    return hx(await env.chain.submit_async(data))


def _refuse_if_expired_at_the_network(env: RpcEnv, data: bytes) -> None:
    """A node that is behind checks expiry against its own head, which the network has passed:
    it would acknowledge a transaction no validator can include any more. Refuse it instead, so
    the client learns now (and can ask an up-to-date node for the head) rather than from a
    ``dropped: expired`` later."""
    sync = env.sync_lag()
    if sync.behind <= 0:
        return
    try:  # the rules that come before the expiry window (docs/json-rpc.md): the signature is checked later
        checked = decode_and_check(env.reader.suite, env.reader.chain_id, data, max_bytes=env.chain.params().max_tx_bytes,
                                   verify=False)
    except ConsortiaError:
        return  # admission says what is wrong with it, by the documented order
    expiry = checked.tx.expiry_height
    if expiry <= sync.network_height + 1:
        raise InvalidTransaction(
            f"transaction expired: expiry_height {expiry} must be above the network's next block {sync.network_height + 1}; "
            f"this node is {sync.behind} blocks behind (at {sync.height}) and catching up"
        )


@rpc_method("tx_get")
def tx_get(env: RpcEnv, hash: Any) -> dict[str, Any] | None:
    tx_hash = parse_hex(hash, "hash", size=32)
    found = env.reader.transaction(tx_hash)
    if found is None:
        dropped = env.reader.dropped(tx_hash)
        if dropped is None:
            return None
        return {"hash": hx(tx_hash), "status": "dropped", "reason": dropped.reason, "detail": dropped.detail,
                "height": dropped.height}
    out = tx_json(found.tx, env.reader.suite)
    loc = found.location
    if loc is None:
        out["status"] = "pending"
    else:
        out.update(status="committed", height=loc.height, index=loc.index, block_hash=hx(loc.block_hash or b""))
    return out


@rpc_method("tx_getReceipt")
def tx_get_receipt(env: RpcEnv, hash: Any, proof: Any = False) -> dict[str, Any] | None:
    tx_hash = parse_hex(hash, "hash", size=32)
    want_proof = bool_param(proof, "proof")
    found = env.reader.receipt(tx_hash)
    if found is None:
        return None
    out = receipt_json(found.receipt, found.block_hash)
    if want_proof:
        built = env.reader.receipt_proof(found.height, found.index)
        if built is None:
            raise NotFound(f"block {found.height} is incomplete in this node's store: no inclusion proof can be built")
        out["proof"] = built.to_json()
    return out
