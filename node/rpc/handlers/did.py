"""``did_*``: resolve a ``did:consortia`` DID to its W3C DID document through a read-only call."""

from __future__ import annotations

from typing import Any

import msgpack

from node.errors import ExecutionError, InvalidParams, NotFound
from node.execution.context import ExecutionFailure
from node.rpc.env import RpcEnv
from node.rpc.jsonfmt import parse_hex
from node.rpc.registry import rpc_method
from node.wire.diddoc import DID_PREFIX, to_document

MAX_DID_LEN = len(DID_PREFIX) + 64


@rpc_method("did_resolve")
async def did_resolve(env: RpcEnv, did: Any, contract: Any) -> dict[str, Any]:
    """``{didDocument, didDocumentMetadata}`` of ``did`` as the ``did`` contract at ``contract`` holds it."""
    if not isinstance(did, str) or not did.startswith(DID_PREFIX) or len(did) > MAX_DID_LEN:
        raise InvalidParams(f"'did' must be a string 'did:consortia:<id>' of at most {MAX_DID_LEN} characters")
    address = parse_hex(contract, "contract", size=20)
    try:
        raw = await env.chain.query_async(address, "resolve", msgpack.packb({"did": did}))
    except (ExecutionError, ExecutionFailure) as exc:  # no contract there, or not a DID contract
        raise InvalidParams(f"cannot resolve {did}: {exc.message}") from None
    try:
        record = msgpack.unpackb(raw, raw=False) if raw else None
        if record is None:
            raise NotFound(f"{did} is not on chain")
        return to_document(record)
    except (ValueError, KeyError, TypeError, AttributeError, msgpack.UnpackException):
        raise InvalidParams(f"the contract at {contract} did not answer like a DID contract") from None
