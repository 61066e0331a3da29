"""JSON shapes of wire objects as returned by the RPC API (byte strings as 0x-hex)."""

from __future__ import annotations

from typing import Any

from node.crypto.base import CryptoSuite
from node.errors import InvalidParams
from node.wire.types import Block, BlockHeader, CommitCertificate, Event, Receipt, Transaction


def hx(data: bytes) -> str:
    return "0x" + data.hex()


def parse_hex(value: Any, name: str, *, size: int | None = None, max_size: int | None = None) -> bytes:
    """Decode a 0x-hex parameter, or raise InvalidParams naming it."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidParams(f"'{name}' must be a 0x-prefixed hex string")
    if max_size is not None and len(value) > 2 + 2 * max_size:
        raise InvalidParams(f"'{name}' is longer than {max_size} bytes")
    try:
        out = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidParams(f"'{name}' is not valid hex") from None
    if size is not None and len(out) != size:
        raise InvalidParams(f"'{name}' must be {size} bytes")
    return out


def tx_json(tx: Transaction, suite: CryptoSuite) -> dict[str, Any]:
    signing = tx.signing_bytes()
    return {
        "hash": hx(suite.hash(signing)),
        "chain_id": tx.chain_id,
        "nonce": hx(tx.nonce),
        "expiry_height": tx.expiry_height,
        "sender_pubkey": hx(tx.sender_pubkey),
        "sender": hx(suite.address(tx.sender_pubkey)),
        "to": hx(tx.to),
        "method": tx.method,
        "args": hx(tx.args),
        "fuel_limit": tx.fuel_limit,
        "signature": hx(tx.signature),
        "raw": hx(tx.encode()),
    }


def header_json(h: BlockHeader) -> dict[str, Any]:
    return {
        "chain_id": h.chain_id,
        "height": h.height,
        "parent_hash": hx(h.parent_hash),
        "timestamp_ms": h.timestamp_ms,
        "proposer": hx(h.proposer),
        "view": h.view,
        "tx_count": h.tx_count,
        "tx_root": hx(h.tx_root),
        "receipt_root": hx(h.receipt_root),
        "state_root": hx(h.state_root),
    }


def cert_json(c: CommitCertificate | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "chain_id": c.chain_id,
        "height": c.height,
        "view": c.view,
        "block_hash": hx(c.block_hash),
        "votes": [{"validator": hx(v.validator), "signature": hx(v.signature)} for v in c.votes],
        "raw": hx(c.encode()),
    }


def block_json(block: Block, block_hash: bytes, suite: CryptoSuite, cert: CommitCertificate | None, *, full: bool) -> dict[str, Any]:
    return {
        "hash": hx(block_hash),
        "height": block.height,
        "header": header_json(block.header),
        "header_raw": hx(block.header.encode()),
        "txs": [tx_json(t, suite) if full else hx(suite.hash(t.signing_bytes())) for t in block.txs],
        "certificate": cert_json(cert),
    }


def event_json(e: Event) -> dict[str, Any]:
    return {"contract": hx(e.contract), "name": e.name, "data": hx(e.data)}


def receipt_json(r: Receipt, block_hash: bytes | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tx_hash": hx(r.tx_hash),
        "height": r.height,
        "index": r.index,
        "status": r.status,
        "ok": r.ok,
        "error": r.error,
        "fuel_used": r.fuel_used,
        "return_value": hx(r.return_value),
        "events": [event_json(e) for e in r.events],
        "raw": hx(r.encode()),
    }
    if block_hash is not None:
        out["block_hash"] = hx(block_hash)
    return out
