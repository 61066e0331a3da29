"""Checking a receipt without trusting the node that served it: Merkle proofs + commit certificate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.crypto.base import CryptoSuite
from node.errors import ConsensusError, ConsortiaError
from node.merkle import verify_proof
from node.proofs import MalformedProof, ReceiptProof
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
    try:
        proof = ReceiptProof.from_json(receipt.get("proof"))
    except MalformedProof as exc:
        raise ConsensusError(str(exc)) from None
    try:
        if suite.hash(proof.header_raw) != proof.block_hash:
            raise ConsensusError("header does not hash to the block hash")
        header = BlockHeader.decode(proof.header_raw)
        if header.chain_id != chain_id:
            raise ConsensusError("proof is for another chain")
        raw = _hex(receipt.get("raw"), "raw")
        proven = Receipt.decode(raw)
        if tx_hash is not None and proven.tx_hash != tx_hash:
            raise ConsensusError("receipt is for another transaction")
        if proven.height != header.height:
            raise ConsensusError("receipt height does not match the block")
        if not verify_proof(suite.hash, proven.tx_hash, proof.tx_proof, header.tx_root):
            raise ConsensusError("transaction is not in the block's tx root")
        if not verify_proof(suite.hash, raw, proof.receipt_proof, header.receipt_root):
            raise ConsensusError("receipt is not in the block's receipt root")
        if proof.certificate_raw is None:
            raise ConsensusError("block has no commit certificate")
        cert = CommitCertificate.decode(proof.certificate_raw)
        verify_certificate(suite, cert, chain_id=chain_id, height=header.height, block_hash=proof.block_hash, validators=validators,
                           quorum=certificate_quorum(consensus, len(validators)))
        return proven
    except ConsensusError:
        raise
    except ConsortiaError as exc:
        raise ConsensusError(f"malformed proof: {exc.message}") from None
