"""Checking a receipt or a state entry without trusting the node that served it: Merkle proofs
against a certified block header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.crypto.base import CryptoSuite
from node.errors import ConsensusError, ConsortiaError, ExecutionError
from node.execution.executor import ContractVM, Executor
from node.execution.system.registry import system_contracts
from node.merkle import verify_proof
from node.proofs import MalformedProof, ReceiptProof
from node.statetree import ProofError, StateProof, verify_tree_proof
from node.statetree.multiproof import CallProof, verify_multiproof
from node.wire.types import BlockHeader, CommitCertificate, Receipt


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConsensusError(f"proof field '{what}' is missing or not hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConsensusError(f"proof field '{what}' is not valid hex") from None


def _certified_header(suite: CryptoSuite, header_raw: bytes, block_hash: bytes, certificate_raw: bytes | None, *,
                      chain_id: str, validators: Sequence[bytes], consensus: str) -> BlockHeader:
    """The header, once it hashes to ``block_hash``, is for ``chain_id`` and its block carries a
    commit certificate with a quorum of ``validators``: what every proof ends in."""
    if suite.hash(header_raw) != block_hash:
        raise ConsensusError("header does not hash to the block hash")
    header = BlockHeader.decode(header_raw)
    if header.chain_id != chain_id:
        raise ConsensusError("proof is for another chain")
    if certificate_raw is None:
        raise ConsensusError("block has no commit certificate")
    cert = CommitCertificate.decode(certificate_raw)
    verify_certificate(suite, cert, chain_id=chain_id, height=header.height, block_hash=block_hash, validators=validators,
                       quorum=certificate_quorum(consensus, len(validators)))
    return header


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
        header = _certified_header(suite, proof.header_raw, proof.block_hash, proof.certificate_raw, chain_id=chain_id,
                                   validators=validators, consensus=consensus)
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
        return proven
    except ConsensusError:
        raise
    except ConsortiaError as exc:
        raise ConsensusError(f"malformed proof: {exc.message}") from None


def verify_state_proof(
    suite: CryptoSuite,
    response: dict[str, Any],
    *,
    key: bytes,
    chain_id: str,
    validators: Sequence[bytes],
    height: int | None = None,
    consensus: str = "pbft",
) -> bytes | None:
    """Return the proven value of state ``key`` (None: proven absent), or raise ConsensusError
    saying which check failed.

    ``response`` is what ``state_getProof`` returned. Checks, in order: it is for ``key`` (and
    ``height``, if given); the header hashes to the block hash, is for this chain and its block
    carries a commit certificate with a quorum of the given validators; the header is for the
    proof's height; and the tree proof leads from the key and the claimed value (or its absence)
    to the header's state root (docs/state-proofs.md).
    """
    try:
        proof = StateProof.from_json(response)
    except ProofError as exc:
        raise ConsensusError(str(exc)) from None
    if proof.key != key:
        raise ConsensusError("proof is for another key")
    if height is not None and proof.height != height:
        raise ConsensusError(f"proof is for height {proof.height}, not {height}")
    try:
        header = _certified_header(suite, proof.header_raw, proof.block_hash, proof.certificate_raw, chain_id=chain_id,
                                   validators=validators, consensus=consensus)
        if header.height != proof.height:
            raise ConsensusError("proof height does not match the block")
        try:
            verify_tree_proof(suite.hash, header.state_root, key, proof.value, proof.proof)
        except ProofError as exc:
            raise ConsensusError(f"state proof refused: {exc}") from None
        return proof.value
    except ConsensusError:
        raise
    except ConsortiaError as exc:
        raise ConsensusError(f"malformed proof: {exc.message}") from None


class _ProvenState:
    """Exactly the proven entries; a read of any other key is remembered (the proof is short)."""

    def __init__(self, entries: dict[bytes, bytes | None]) -> None:
        self.entries = entries
        self.unproven: bytes | None = None

    def get(self, key: bytes) -> bytes | None:
        if key not in self.entries:
            if self.unproven is None:
                self.unproven = key
            return None
        return self.entries[key]


class _NoNonces:
    def nonce_expiry(self, sender: bytes, nonce: bytes) -> int | None:
        return None


def verify_call_proof(
    suite: CryptoSuite,
    response: dict[str, Any],
    *,
    to: bytes,
    method: str,
    args: bytes,
    chain_id: str,
    validators: Sequence[bytes],
    sender: bytes = bytes(20),
    consensus: str = "pbft",
    vm: ContractVM | None = None,
) -> bytes:
    """Return the proven return value of a ``state_call(..., proof=true)``, or raise
    ConsensusError saying which check failed.

    ``response`` is what ``state_call`` returned for ``to``, ``method``, ``args`` and ``sender``.
    Checks, in order: the header hashes to the block hash, is for this chain and its block carries
    a commit certificate with a quorum of ``validators``; the header is for the proof's height;
    the multiproof proves a value or an absence for every key in ``reads`` against the header's
    state root; re-running the call here on exactly those entries (native system contracts
    always; WASM contracts with ``vm``, e.g. ``node.vm.WasmVM(suite)``) reads no other key and
    returns the claimed value (docs/state-proofs.md, "Call proofs").
    """
    try:
        proof = CallProof.from_json(response.get("proof"))
    except ProofError as exc:
        raise ConsensusError(str(exc)) from None
    try:
        header = _certified_header(suite, proof.header_raw, proof.block_hash, proof.certificate_raw, chain_id=chain_id,
                                   validators=validators, consensus=consensus)
        if header.height != proof.height:
            raise ConsensusError("proof height does not match the block")
        claimed = _hex(response.get("return_value"), "return_value")
        try:
            entries = verify_multiproof(suite.hash, header.state_root, proof.reads, list(proof.nodes))
        except ProofError as exc:
            raise ConsensusError(f"call proof refused: {exc}") from None
        state = _ProvenState(entries)
        executor = Executor(suite, chain_id, state, _NoNonces(), system_contracts(), vm=vm)
        try:
            result = executor.query(to, method, args, sender=sender, height=header.height, timestamp_ms=header.timestamp_ms,
                                    state=state)
        except ExecutionError as exc:
            if state.unproven is not None:
                raise ConsensusError(f"the call reads key 0x{state.unproven.hex()}, which the proof does not cover") from None
            raise ConsensusError(f"re-running the call on the proven state failed: {exc.message}") from None
        if state.unproven is not None:
            raise ConsensusError(f"the call reads key 0x{state.unproven.hex()}, which the proof does not cover")
        if result != claimed:
            raise ConsensusError("the return value differs from the call re-run on the proven state")
        return result
    except ConsensusError:
        raise
    except ConsortiaError as exc:
        raise ConsensusError(f"malformed proof: {exc.message}") from None
