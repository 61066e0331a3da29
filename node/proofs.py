"""The receipt inclusion proof as one typed value with one JSON form.

The node builds it (``node.chainview``) and a client checks it (``node.sdk.verify``); both go
through this type, so the JSON shape documented in docs/json-rpc.md (``tx_getReceipt``) and
docs/transaction-format.md (section 6) is written and read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.merkle import ProofStep, proof_from_json, proof_to_json


class MalformedProof(ValueError):
    """The JSON form is not a receipt proof; ``field`` names the member at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReceiptProof:
    """Everything needed to check one receipt against a certified block header."""

    block_hash: bytes
    header_raw: bytes  # the canonical header encoding, which hashes to ``block_hash``
    tx_index: int
    tx_proof: tuple[ProofStep, ...]  # transaction hash -> header.tx_root
    receipt_proof: tuple[ProofStep, ...]  # receipt encoding -> header.receipt_root
    certificate_raw: bytes | None  # None: the block has no commit certificate (genesis)

    def to_json(self) -> dict[str, Any]:
        """The ``proof`` member of ``tx_getReceipt(hash, true)``; the key order is part of the shape."""
        return {
            "block_hash": _hx(self.block_hash),
            "header_raw": _hx(self.header_raw),
            "tx_index": self.tx_index,
            "tx_proof": proof_to_json(self.tx_proof),
            "receipt_proof": proof_to_json(self.receipt_proof),
            "certificate_raw": None if self.certificate_raw is None else _hx(self.certificate_raw),
        }

    @classmethod
    def from_json(cls, raw: Any) -> ReceiptProof:
        """Parse what ``to_json`` produced; raises MalformedProof naming the first bad member.

        Only the form is checked here: whether the proof holds is for the verifier."""
        if not isinstance(raw, dict):
            raise MalformedProof("proof", "the receipt carries no proof (ask with proof=true)")
        tx_index = raw.get("tx_index")
        if not isinstance(tx_index, int) or isinstance(tx_index, bool) or tx_index < 0:
            raise MalformedProof("tx_index", "proof field 'tx_index' must be a non-negative integer")
        cert = raw.get("certificate_raw")
        return cls(
            block_hash=_parse_hex(raw.get("block_hash"), "block_hash"),
            header_raw=_parse_hex(raw.get("header_raw"), "header_raw"),
            tx_index=tx_index,
            tx_proof=_parse_steps(raw.get("tx_proof"), "tx_proof"),
            receipt_proof=_parse_steps(raw.get("receipt_proof"), "receipt_proof"),
            certificate_raw=None if cert is None else _parse_hex(cert, "certificate_raw"),
        )


def _hx(data: bytes) -> str:
    return "0x" + data.hex()


def _parse_hex(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedProof(field, f"proof field '{field}' is missing or not hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedProof(field, f"proof field '{field}' is not valid hex") from None


def _parse_steps(value: Any, field: str) -> tuple[ProofStep, ...]:
    try:
        return tuple(proof_from_json(value))
    except ValueError as exc:
        raise MalformedProof(field, f"malformed Merkle proof: {exc}") from None
