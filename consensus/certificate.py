"""Checking commit certificates: what lets an observer or client trust a block it did not vote on."""

from __future__ import annotations

from collections.abc import Sequence

from node.crypto.base import CryptoSuite
from node.errors import ConsensusError
from node.wire.types import CommitCertificate


def quorum_size(n_validators: int) -> int:
    """2f+1 for n = 3f+1 (more generally n - f with f = floor((n-1)/3))."""
    f = (n_validators - 1) // 3
    return n_validators - f


def majority_quorum(n_validators: int) -> int:
    """Raft (crash faults only): more than half."""
    return n_validators // 2 + 1


def verify_certificate(
    suite: CryptoSuite,
    cert: CommitCertificate,
    *,
    chain_id: str,
    height: int,
    block_hash: bytes,
    validators: Sequence[bytes],
    quorum: int | None = None,
) -> None:
    """Raise ConsensusError unless ``cert`` carries a quorum of valid, distinct validator votes."""
    if cert.chain_id != chain_id or cert.height != height or cert.block_hash != block_hash:
        raise ConsensusError("commit certificate is for a different block")
    allowed = set(validators)
    message = cert.signed_bytes()
    signers: set[bytes] = set()
    for vote in cert.votes:
        if vote.validator not in allowed:
            raise ConsensusError("commit certificate has a vote from a non-validator")
        if vote.validator in signers:
            raise ConsensusError("commit certificate has a duplicate vote")
        if not suite.verify(vote.validator, message, vote.signature):
            raise ConsensusError("commit certificate has an invalid signature")
        signers.add(vote.validator)
    need = quorum if quorum is not None else quorum_size(len(allowed))
    if len(signers) < need:
        raise ConsensusError(f"commit certificate has {len(signers)} votes, needs {need}")
