"""Proofs that a key has a value, or has none, in a tree with a known root.

A ``TreeProof`` is the path from the root towards the key: the branches passed (their bit and
the sibling not taken) and how the path ends. Its byte encoding (docs/state-proofs.md):

    kind (1)            0x00 present: the path ends at the key's own leaf
                        0x01 absent: it ends at the leaf of another key (whose path agrees with
                             the key's at every branch passed)
                        0x02 absent: the tree is empty
    [kind 0x01 only]    that leaf's key path (32) and value hash (32)
    count (2, big-endian)
    count x (bit (1), sibling hash (32)), from the root down, bits strictly increasing

``StateProof`` is what ``state_getProof`` returns: the value, the tree proof and the certified
header whose ``state_root`` it is checked against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from node.statetree.nodes import (
    BRANCH_HEAD,
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF,
    HashFn,
    NodeSource,
    branch_head,
    check_hash_size,
    leaf_head,
    leaf_key_value,
    read_node,
)

PRESENT = 0x00
ABSENT_OTHER_LEAF = 0x01
ABSENT_EMPTY = 0x02
_U16 = struct.Struct(">H")
_STEP = 1 + HASH_SIZE


class ProofError(ValueError):
    """A proof that is malformed or does not hold; the message names the failing check."""


@dataclass(frozen=True)
class Step:
    """A branch on the path: its bit, and the hash of the child the path does not take."""

    bit: int
    sibling: bytes


@dataclass(frozen=True)
class TreeProof:
    kind: int
    steps: tuple[Step, ...]
    other_path: bytes = b""  # ABSENT_OTHER_LEAF: the leaf the path ends at
    other_value_hash: bytes = b""

    def encode(self) -> bytes:
        out = bytearray((self.kind,))
        if self.kind == ABSENT_OTHER_LEAF:
            out += self.other_path + self.other_value_hash
        out += _U16.pack(len(self.steps))
        for step in self.steps:
            out.append(step.bit)
            out += step.sibling
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> TreeProof:
        """Parse the byte form, refusing anything that is not exactly one proof."""
        if not data:
            raise ProofError("state proof is empty")
        kind, pos = data[0], 1
        if kind not in (PRESENT, ABSENT_OTHER_LEAF, ABSENT_EMPTY):
            raise ProofError(f"state proof has unknown kind {kind}")
        other_path = other_value_hash = b""
        if kind == ABSENT_OTHER_LEAF:
            if len(data) < pos + 2 * HASH_SIZE:
                raise ProofError("state proof is truncated (in its end leaf)")
            other_path, other_value_hash = data[pos : pos + HASH_SIZE], data[pos + HASH_SIZE : pos + 2 * HASH_SIZE]
            pos += 2 * HASH_SIZE
        if len(data) < pos + 2:
            raise ProofError("state proof is truncated (in its step count)")
        count = _U16.unpack_from(data, pos)[0]
        pos += 2
        if len(data) != pos + count * _STEP:
            raise ProofError(f"state proof length does not match its {count} steps (truncated or with trailing bytes)")
        steps = tuple(Step(data[p], data[p + 1 : p + _STEP]) for p in range(pos, len(data), _STEP))
        return cls(kind, steps, other_path, other_value_hash)


def _bit(path: bytes, bit: int) -> int:
    return (path[bit >> 3] >> (7 - (bit & 7))) & 1


def prove(hash_fn: HashFn, source: NodeSource, root: bytes, key: bytes) -> tuple[bytes | None, TreeProof]:
    """The value of ``key`` in the tree ``root`` (None if absent) and the proof of it."""
    check_hash_size(hash_fn)
    if root == EMPTY_ROOT:
        return None, TreeProof(ABSENT_EMPTY, ())
    path = hash_fn(key)
    steps: list[Step] = []
    node_hash = root
    while True:
        raw = read_node(source, node_hash)
        if raw[0] == LEAF:
            if raw[1 : 1 + HASH_SIZE] == path:
                return leaf_key_value(raw)[1], TreeProof(PRESENT, tuple(steps))
            return None, TreeProof(ABSENT_OTHER_LEAF, tuple(steps), raw[1 : 1 + HASH_SIZE], raw[1 + HASH_SIZE : 1 + 2 * HASH_SIZE])
        bit, left, right = raw[1], raw[2 : 2 + HASH_SIZE], raw[2 + HASH_SIZE : BRANCH_HEAD]
        if _bit(path, bit):
            steps.append(Step(bit, left))
            node_hash = right
        else:
            steps.append(Step(bit, right))
            node_hash = left


def verify_tree_proof(hash_fn: HashFn, root: bytes, key: bytes, value: bytes | None, proof: bytes) -> None:
    """Check that the tree ``root`` maps ``key`` to ``value`` (None: to nothing); raise ProofError if not."""
    check_hash_size(hash_fn)
    p = TreeProof.decode(proof)
    path = hash_fn(key)
    if p.kind == ABSENT_EMPTY:
        if value is not None:
            raise ProofError("the proof says the tree is empty, but a value is claimed")
        if p.steps:
            raise ProofError("an empty-tree proof has no steps")
        if root != EMPTY_ROOT:
            raise ProofError("the proof says the tree is empty, but the state root is not the empty root")
        return
    if p.kind == PRESENT:
        if value is None:
            raise ProofError("the proof shows the key present, but no value is claimed")
        node = hash_fn(leaf_head(path, hash_fn(value)))
    else:
        if value is not None:
            raise ProofError("the proof shows the key absent, but a value is claimed")
        if p.other_path == path:
            raise ProofError("an absence proof ends at the key's own leaf")
        node = hash_fn(leaf_head(p.other_path, p.other_value_hash))
    previous = -1
    for step in p.steps:
        if step.bit <= previous:
            raise ProofError("state proof steps are out of order (bits must increase from the root down)")
        previous = step.bit
        if p.kind == ABSENT_OTHER_LEAF and _bit(p.other_path, step.bit) != _bit(path, step.bit):
            raise ProofError("the absence proof's end leaf is not on the key's path")
    for step in reversed(p.steps):
        if _bit(path, step.bit):
            node = hash_fn(branch_head(step.bit, step.sibling, node))
        else:
            node = hash_fn(branch_head(step.bit, node, step.sibling))
    if node != root:
        raise ProofError("state proof does not lead to the state root")


@dataclass(frozen=True)
class StateProof:
    """One key's value (or absence) at a height, with everything needed to check it."""

    key: bytes
    value: bytes | None
    height: int
    block_hash: bytes
    header_raw: bytes  # the canonical header encoding, which hashes to ``block_hash``
    proof: bytes  # a ``TreeProof`` encoding, checked against the header's ``state_root``
    certificate_raw: bytes | None  # None: the block has no commit certificate (genesis)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": _hx(self.key),
            "value": None if self.value is None else _hx(self.value),
            "height": self.height,
            "block_hash": _hx(self.block_hash),
            "header_raw": _hx(self.header_raw),
            "proof": _hx(self.proof),
            "certificate_raw": None if self.certificate_raw is None else _hx(self.certificate_raw),
        }

    @classmethod
    def from_json(cls, raw: Any) -> StateProof:
        """Parse what ``to_json`` produced; raises ProofError naming the first bad member."""
        if not isinstance(raw, dict):
            raise ProofError("a state proof must be an object")
        height = raw.get("height")
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            raise ProofError("state proof field 'height' must be a non-negative integer")
        value, cert = raw.get("value"), raw.get("certificate_raw")
        return cls(
            key=_parse_hex(raw.get("key"), "key"),
            value=None if value is None else _parse_hex(value, "value"),
            height=height,
            block_hash=_parse_hex(raw.get("block_hash"), "block_hash"),
            header_raw=_parse_hex(raw.get("header_raw"), "header_raw"),
            proof=_parse_hex(raw.get("proof"), "proof"),
            certificate_raw=None if cert is None else _parse_hex(cert, "certificate_raw"),
        )


def _hx(data: bytes) -> str:
    return "0x" + data.hex()


def _parse_hex(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ProofError(f"state proof field '{field}' is missing or not hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ProofError(f"state proof field '{field}' is not valid hex") from None
