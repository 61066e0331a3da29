"""The two rules a view change stands on, as pure functions so they can be read and tested alone.

- ``prepared_block_hash``: what a prepared certificate proves (2f+1 distinct validators signed
  PREPARE for this block at this height and view), or nothing.
- ``carried_forward``: which blocks a new view must re-propose, computed from the view changes
  in NEW-VIEW by every receiver alike, so a new primary cannot substitute its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus.pbft.messages import MAX_PREPARED_CERTS, PreparedCert, ViewChange, prepare_vote_bytes
from node.crypto.base import CryptoSuite
from node.errors import ConsortiaError
from node.wire.types import Block


def prepared_block_hash(
    suite: CryptoSuite, chain_id: str, validators: Sequence[bytes], quorum: int, cert: PreparedCert, height: int
) -> bytes | None:
    """The hash of the block ``cert`` proves prepared at ``height``, or None if it proves nothing."""
    try:
        block = Block.decode(cert.block)
    except ConsortiaError:
        return None
    if block.height != height:
        return None
    block_hash = suite.hash(block.header.encode())
    allowed = set(validators)
    message = prepare_vote_bytes(chain_id, height, cert.view, block_hash)
    signers: set[bytes] = set()
    for vote in cert.votes:
        if vote.validator in allowed and vote.validator not in signers and suite.verify(vote.validator, message, vote.signature):
            signers.add(vote.validator)
    return block_hash if len(signers) >= quorum else None


def view_change_is_valid(suite: CryptoSuite, chain_id: str, validators: Sequence[bytes], quorum: int, vc: ViewChange) -> bool:
    """Every certificate proves a block at its height: the first at ``vc.height``, then one up each."""
    return all(
        prepared_block_hash(suite, chain_id, validators, quorum, cert, vc.height + i) is not None
        for i, cert in enumerate(vc.prepared)
    )


def carried_forward(
    suite: CryptoSuite, base: int, base_parent: bytes, view_changes: Sequence[ViewChange]
) -> list[tuple[int, bytes, bytes]]:
    """The blocks a new view re-proposes, as (height, encoding, hash), from ``base`` up.

    Height by height: the prepared block with the highest view among the view changes (ties,
    which honest validators never produce, broken by the encoding), as long as it extends the
    block chosen below it (``base_parent`` below ``base``). A block committed anywhere was
    prepared by f+1 honest validators and so is the highest at its height in any 2f+1 view
    changes; its ancestors were prepared before it was committed, so the chain never breaks
    below a committed block. Certificates are assumed valid (``view_change_is_valid``).
    """
    chosen: list[tuple[int, bytes, bytes]] = []
    parent = base_parent
    for i in range(MAX_PREPARED_CERTS):
        certs = [vc.prepared[i] for vc in view_changes if i < len(vc.prepared)]
        if not certs:
            break
        best = max(certs, key=lambda c: (c.view, c.block))
        block = Block.decode(best.block)
        if block.header.parent_hash != parent:
            break
        parent = suite.hash(block.header.encode())
        chosen.append((base + i, best.block, parent))
    return chosen
