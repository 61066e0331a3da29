"""One proof for many keys: the tree nodes on all their paths, each given once.

A multiproof is a list of node wire forms (``node.statetree.snapshot``: a branch's 66-byte hash
preimage, a leaf's preimage with its key and value): every node on the path from the root towards
each key's path, down to the leaf the path ends at. A verifier indexes the nodes by their hash,
walks each key's path from the state root through them, and reads the key's value off the leaf it
reaches (or its absence, if that leaf is another key's). ``CallProof`` is what
``state_call(..., proof=true)`` returns. Byte-level description: docs/state-proofs.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.statetree.nodes import BRANCH_HEAD, EMPTY_ROOT, HASH_SIZE, LEAF, LEAF_HEAD, HashFn, NodeSource, read_node
from node.statetree.proof import ProofError, _hx, _parse_hex
from node.statetree.snapshot import SnapshotNodeError, check_wire_node, wire_form

MAX_PROOF_KEYS = 10_000  # keys one call proof may cover (a call reading more is refused a proof)


def _bit(path: bytes, bit: int) -> int:
    return (path[bit >> 3] >> (7 - (bit & 7))) & 1


def build_multiproof(hash_fn: HashFn, source: NodeSource, root: bytes, keys: Iterable[bytes]) -> list[bytes]:
    """The wire forms of every node on the paths of ``keys`` in the tree ``root`` (first seen first)."""
    nodes: dict[bytes, bytes] = {}
    if root == EMPTY_ROOT:
        return []
    for key in keys:
        path = hash_fn(key)
        node_hash = root
        while True:
            raw = nodes.get(node_hash)
            if raw is None:
                raw = wire_form(read_node(source, node_hash))
                nodes[node_hash] = raw
            if raw[0] == LEAF:
                break
            node_hash = raw[2 + HASH_SIZE : BRANCH_HEAD] if _bit(path, raw[1]) else raw[2 : 2 + HASH_SIZE]
    return list(nodes.values())


def verify_multiproof(hash_fn: HashFn, root: bytes, keys: Iterable[bytes], nodes: list[bytes]) -> dict[bytes, bytes | None]:
    """Every key's value (None: absent) in the tree ``root``, proven by ``nodes``; raises
    ProofError if a node is malformed or repeated, a path needs a node that is not given, or a
    node is given that no key's path passes."""
    by_hash: dict[bytes, bytes] = {}
    for raw in nodes:
        if not raw:
            raise ProofError("multiproof holds an empty node")
        node_hash = hash_fn(raw[:LEAF_HEAD] if raw[0] == LEAF else raw)
        try:
            check_wire_node(hash_fn, node_hash, raw)
        except SnapshotNodeError as exc:
            raise ProofError(f"multiproof node is malformed: {exc}") from None
        if node_hash in by_hash:
            raise ProofError("multiproof holds a node twice")
        by_hash[node_hash] = raw
    values: dict[bytes, bytes | None] = {}
    used: set[bytes] = set()
    for key in keys:
        if root == EMPTY_ROOT:
            values[key] = None
            continue
        path = hash_fn(key)
        node_hash = root
        while True:
            found = by_hash.get(node_hash)
            if found is None:
                raise ProofError(f"multiproof lacks a node on the path of key 0x{key.hex()}")
            raw = found
            used.add(node_hash)
            if raw[0] == LEAF:
                size = int.from_bytes(raw[LEAF_HEAD : LEAF_HEAD + 4], "big")
                values[key] = raw[LEAF_HEAD + 4 + size :] if raw[1 : 1 + HASH_SIZE] == path else None
                break
            node_hash = raw[2 + HASH_SIZE : BRANCH_HEAD] if _bit(path, raw[1]) else raw[2 : 2 + HASH_SIZE]
    if len(used) != len(by_hash):
        raise ProofError("multiproof holds nodes no key's path passes")
    return values


@dataclass(frozen=True)
class CallProof:
    """The state a read-only call read, proven against a certified block's state root."""

    height: int
    block_hash: bytes
    header_raw: bytes  # the canonical header encoding, which hashes to ``block_hash``
    certificate_raw: bytes | None  # None: genesis, which has no certificate
    reads: tuple[bytes, ...]  # every state key the call read (present or not), in first-read order
    nodes: tuple[bytes, ...]  # the multiproof of ``reads`` against the header's ``state_root``

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "block_hash": _hx(self.block_hash),
            "header_raw": _hx(self.header_raw),
            "certificate_raw": None if self.certificate_raw is None else _hx(self.certificate_raw),
            "reads": [_hx(k) for k in self.reads],
            "nodes": [_hx(n) for n in self.nodes],
        }

    @classmethod
    def from_json(cls, raw: Any) -> CallProof:
        """Parse what ``to_json`` produced; raises ProofError naming the first bad member."""
        if not isinstance(raw, dict):
            raise ProofError("the call result carries no proof (ask with proof=true)")
        height = raw.get("height")
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            raise ProofError("call proof field 'height' must be a non-negative integer")
        reads, nodes, cert = raw.get("reads"), raw.get("nodes"), raw.get("certificate_raw")
        if not isinstance(reads, list) or not isinstance(nodes, list) or len(reads) > MAX_PROOF_KEYS:
            raise ProofError("call proof fields 'reads' and 'nodes' must be lists (at most 10,000 reads)")
        return cls(
            height=height,
            block_hash=_parse_hex(raw.get("block_hash"), "block_hash"),
            header_raw=_parse_hex(raw.get("header_raw"), "header_raw"),
            certificate_raw=None if cert is None else _parse_hex(cert, "certificate_raw"),
            reads=tuple(_parse_hex(k, "reads") for k in reads),
            nodes=tuple(_parse_hex(n, "nodes") for n in nodes),
        )
