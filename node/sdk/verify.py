"""Checking a receipt without trusting the node that served it: Merkle proofs + commit certificate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.crypto.base import CryptoSuite
from node.errors import ConsensusError, ConsortiaError
from node.merkle import proof_from_json, verify_proof
from node.wire.types import BlockHeader, CommitCertificate, Receipt


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConsensusError(f"proof field '{what}' is missing or not hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConsensusError(f"proof field '{what}' is not valid hex") from None


def verify_receipt_proof(
    suite: CryptoSuite,
    receipt: dict[str, Any],
    *,
    chain_id: str,
    validators: Sequence[bytes],
    tx_hash: bytes | None = None,
    consensus: str = "pbft",
) -> Receipt:
    """Return the proven receipt, or raise ConsensusError saying which check failed.

    Checks: the header hashes to the claimed block hash; the transaction hash is a leaf of the
    header's tx root and the receipt encoding a leaf of its receipt root; and the block carries a
    commit certificate with a quorum of the given validators.
    """
    proof = receipt.get("proof")
    if not isinstance(proof, dict):
        raise ConsensusError("the receipt carries no proof (ask with proof=true)")
    try:
        header_raw = _hex(proof.get("header_raw"), "header_raw")
        block_hash = _hex(proof.get("block_hash"), "block_hash")
        if suite.hash(header_raw) != block_hash:
            raise ConsensusError("header does not hash to the block hash")
        header = BlockHeader.decode(header_raw)
        if header.chain_id != chain_id:
            raise ConsensusError("proof is for another chain")
        raw = _hex(receipt.get("raw"), "raw")
        proven = Receipt.decode(raw)
        if tx_hash is not None and proven.tx_hash != tx_hash:
            raise ConsensusError("receipt is for another transaction")
        if proven.height != header.height:
            raise ConsensusError("receipt height does not match the block")
        try:
            tx_proof = proof_from_json(proof.get("tx_proof"))
            receipt_proof = proof_from_json(proof.get("receipt_proof"))
        except ValueError as exc:
            raise ConsensusError(f"malformed Merkle proof: {exc}") from None
        if not verify_proof(suite.hash, proven.tx_hash, tx_proof, header.tx_root):
            raise ConsensusError("transaction is not in the block's tx root")
        if not verify_proof(suite.hash, raw, receipt_proof, header.receipt_root):
            raise ConsensusError("receipt is not in the block's receipt root")
        cert_raw = proof.get("certificate_raw")
        if cert_raw is None:
            raise ConsensusError("block has no commit certificate")
        cert = CommitCertificate.decode(_hex(cert_raw, "certificate_raw"))
        verify_certificate(suite, cert, chain_id=chain_id, height=header.height, block_hash=block_hash, validators=validators,
                           quorum=certificate_quorum(consensus, len(validators)))
        return proven
    except ConsensusError:
        raise
    except ConsortiaError as exc:
        raise ConsensusError(f"malformed proof: {exc.message}") from None
