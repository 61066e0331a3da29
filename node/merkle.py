"""Binary Merkle trees over transaction and receipt hashes, with inclusion proofs.

Leaves and inner nodes are domain-separated (0x00 / 0x01 prefixes) so a leaf can never pass for an
inner node; an odd node at the end of a level is promoted unchanged (not duplicated), which avoids
the duplicate-leaf ambiguity of Bitcoin-style trees. The empty tree's root is ``hash(b"")``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

HashFn = Callable[[bytes], bytes]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


@dataclass(frozen=True)
class ProofStep:
    """One sibling on the path to the root; ``left`` is True when the sibling sits on the left."""

    sibling: bytes
    left: bool


def leaf_hash(hash_fn: HashFn, item: bytes) -> bytes:
    return hash_fn(LEAF_PREFIX + item)


def node_hash(hash_fn: HashFn, left: bytes, right: bytes) -> bytes:
    return hash_fn(NODE_PREFIX + left + right)


def _levels(hash_fn: HashFn, items: Sequence[bytes]) -> list[list[bytes]]:
    level = [leaf_hash(hash_fn, item) for item in items]
    levels = [level]
    while len(level) > 1:
        nxt = [node_hash(hash_fn, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        levels.append(level)
    return levels


def merkle_root(hash_fn: HashFn, items: Sequence[bytes]) -> bytes:
    if not items:
        return hash_fn(b"")
    return _levels(hash_fn, items)[-1][0]


def merkle_proof(hash_fn: HashFn, items: Sequence[bytes], index: int) -> list[ProofStep]:
    """Siblings from leaf ``index`` up to the root."""
    if not 0 <= index < len(items):
        raise IndexError("leaf index out of range")
    steps: list[ProofStep] = []
    for level in _levels(hash_fn, items)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            steps.append(ProofStep(sibling=level[sibling], left=sibling < index))
        index //= 2
    return steps


def verify_proof(hash_fn: HashFn, item: bytes, proof: Sequence[ProofStep], root: bytes) -> bool:
    """True iff ``item`` is a leaf of the tree with ``root`` along ``proof``."""
    acc = leaf_hash(hash_fn, item)
    for step in proof:
        acc = node_hash(hash_fn, step.sibling, acc) if step.left else node_hash(hash_fn, acc, step.sibling)
    return acc == root


def proof_to_json(proof: Sequence[ProofStep]) -> list[dict[str, object]]:
    return [{"sibling": "0x" + s.sibling.hex(), "position": "left" if s.left else "right"} for s in proof]


def proof_from_json(raw: object) -> list[ProofStep]:
    """Parse the JSON form returned by ``tx_getReceipt``; raises ValueError when malformed."""
    if not isinstance(raw, list):
        raise ValueError("proof must be a list")
    steps = []
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("position") not in ("left", "right"):
            raise ValueError("malformed proof step")
        sib = entry.get("sibling")
        if not isinstance(sib, str) or not sib.startswith("0x"):
            raise ValueError("malformed proof sibling")
        steps.append(ProofStep(sibling=bytes.fromhex(sib[2:]), left=entry["position"] == "left"))
    return steps
