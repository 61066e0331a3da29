"""Moving a whole tree between nodes: the node form peers send, its check, and the final walk.

A peer sends a node as its *wire form*: a branch as its 66-byte hash preimage, a leaf as its
stored encoding (65-byte preimage, key length, key, value). Everything in the wire form is bound
by the node's hash (a leaf's key path and value hash are checked against its key and value), so a
node fetched by a hash it was asked for is exactly the node of the tree, whoever sent it. A
branch's stored suffix, the smallest key path below it, is not covered by the hash: the receiver
recomputes it (``collect``) instead of trusting a peer with it. Docs: docs/snapshot-sync.md.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from node.statetree.nodes import (
    BRANCH,
    BRANCH_HEAD,
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF,
    LEAF_HEAD,
    HashFn,
    NodeSource,
    TreeError,
)

_U32 = struct.Struct(">I")


class SnapshotNodeError(ValueError):
    """A node a peer sent is malformed or is not the node it was asked for."""


def wire_form(stored: bytes) -> bytes:
    """What a peer sends for a stored node: a branch without its local suffix, a leaf whole."""
    return stored[:BRANCH_HEAD] if stored[:1] == bytes((BRANCH,)) else stored


def check_wire_node(hash_fn: HashFn, expected: bytes, raw: bytes) -> tuple[bytes, ...]:
    """Check that ``raw`` is the wire form of the node whose hash is ``expected``; return the
    hashes of its children (none for a leaf). Raises SnapshotNodeError naming the failed check."""
    if not raw:
        raise SnapshotNodeError("empty node")
    kind = raw[0]
    if kind == BRANCH:
        if len(raw) != BRANCH_HEAD:
            raise SnapshotNodeError(f"a branch is {BRANCH_HEAD} bytes, got {len(raw)}")
        if hash_fn(raw) != expected:
            raise SnapshotNodeError("branch does not hash to the hash asked for")
        left, right = raw[2 : 2 + HASH_SIZE], raw[2 + HASH_SIZE : BRANCH_HEAD]
        if EMPTY_ROOT in (left, right):
            raise SnapshotNodeError("branch has an empty child")
        return left, right
    if kind == LEAF:
        if len(raw) < LEAF_HEAD + 4:
            raise SnapshotNodeError("leaf is truncated")
        size = _U32.unpack_from(raw, LEAF_HEAD)[0]
        if len(raw) < LEAF_HEAD + 4 + size:
            raise SnapshotNodeError("leaf key is truncated")
        if hash_fn(raw[:LEAF_HEAD]) != expected:
            raise SnapshotNodeError("leaf does not hash to the hash asked for")
        key, value = raw[LEAF_HEAD + 4 : LEAF_HEAD + 4 + size], raw[LEAF_HEAD + 4 + size :]
        if hash_fn(key) != raw[1 : 1 + HASH_SIZE]:
            raise SnapshotNodeError("leaf key does not match its key path")
        if hash_fn(value) != raw[1 + HASH_SIZE : LEAF_HEAD]:
            raise SnapshotNodeError("leaf value does not match its value hash")
        return ()
    raise SnapshotNodeError(f"unknown node kind {kind}")


@dataclass
class TreeContents:
    """A complete tree read out for installing: what to store and the state it holds."""

    nodes: dict[bytes, bytes] = field(default_factory=dict)  # stored encodings of nodes not committed yet
    state: dict[bytes, bytes] = field(default_factory=dict)  # every leaf's key -> value
    missing: list[bytes] = field(default_factory=list)  # hashes of nodes found in neither source
    visited: int = 0


def collect(hash_fn: HashFn, root: bytes, staged: NodeSource, committed: NodeSource) -> TreeContents:
    """Walk the tree ``root`` over the committed nodes (trusted, stored encodings) and the staged
    ones (wire forms, checked again here against the hash their parent names); rebuild the stored
    encodings of the staged nodes, branch suffixes included, and collect every key and value.

    Nodes in neither source are listed in ``missing`` (then ``nodes``/``state`` are incomplete)."""
    out = TreeContents()
    if root == EMPTY_ROOT:
        return out

    def visit(node_hash: bytes, under_committed: bool) -> bytes | None:
        """The smallest key path below ``node_hash`` (None if that is not known: nodes missing).
        Below a committed node every node is committed (a committed tree is whole); below a
        staged one, staged nodes are the likelier, so they are looked up first."""
        out.visited += 1
        raw = committed.get(node_hash) if under_committed else staged.get(node_hash)
        if under_committed and raw is None:
            raise TreeError(f"state tree node {node_hash.hex()} is missing")
        if raw is None:
            raw = committed.get(node_hash)
            if raw is None:
                out.missing.append(node_hash)
                return None
            under_committed = True
        if under_committed:
            if raw[0] == LEAF:
                size = _U32.unpack_from(raw, LEAF_HEAD)[0]
                start = LEAF_HEAD + 4
                out.state[raw[start : start + size]] = raw[start + size :]
                return raw[1 : 1 + HASH_SIZE]
            if raw[0] != BRANCH or len(raw) != BRANCH_HEAD + HASH_SIZE:
                raise TreeError(f"state tree node {node_hash.hex()} is malformed")
            visit(raw[2 : 2 + HASH_SIZE], True)
            visit(raw[2 + HASH_SIZE : BRANCH_HEAD], True)
            return raw[BRANCH_HEAD:]
        try:
            children = check_wire_node(hash_fn, node_hash, raw)
        except SnapshotNodeError as exc:
            raise TreeError(f"staged snapshot node {node_hash.hex()} is damaged: {exc}") from None
        if not children:
            size = _U32.unpack_from(raw, LEAF_HEAD)[0]
            start = LEAF_HEAD + 4
            out.state[raw[start : start + size]] = raw[start + size :]
            out.nodes[node_hash] = raw
            return raw[1 : 1 + HASH_SIZE]
        smallest = visit(children[0], False)
        visit(children[1], False)
        if smallest is not None:
            out.nodes[node_hash] = raw + smallest
        return smallest

    visit(root, False)
    return out


def missing_nodes(root: bytes, present: Callable[[bytes], bytes | None], limit: int) -> list[bytes]:
    """Up to ``limit`` hashes of nodes under ``root`` that ``present`` does not have, whose parents
    it has (the frontier a resumed snapshot fetches next). ``present`` returns wire forms or
    stored encodings; both start with the 66- or 65-byte preimage."""
    if root == EMPTY_ROOT:
        return []
    out: list[bytes] = []
    stack = [root]
    while stack and len(out) < limit:
        node_hash = stack.pop()
        raw = present(node_hash)
        if raw is None:
            out.append(node_hash)
        elif raw[0] == BRANCH:
            stack.append(raw[2 + HASH_SIZE : BRANCH_HEAD])
            stack.append(raw[2 : 2 + HASH_SIZE])
    return out
