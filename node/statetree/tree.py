"""Batch updates and lookups on the tree (node format: ``node.statetree.nodes``).

``update`` applies a whole block's writes at once: the writes are sorted by key path and pushed
down the old tree together, so each node on the union of their paths is read once and each new
node hashed once. Nodes are never changed in place: the old root stays readable, and the update
returns the new root with only the nodes it created.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass

from node.statetree.nodes import (
    BRANCH,
    BRANCH_HEAD,
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF,
    HashFn,
    NodeSource,
    branch_head,
    check_hash_size,
    encode_branch,
    encode_leaf,
    leaf_head,
    leaf_key_value,
    read_node,
)

_BITS = 8 * HASH_SIZE
_RIGHT = 2 + HASH_SIZE  # where a branch's right child starts
_BRANCH_SIZE = BRANCH_HEAD + HASH_SIZE  # a stored branch: its hash preimage and the smallest path below

# A subtree as the update sees it: (node hash, smallest key path below it, or None if not known yet).
Ref = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class TreeUpdate:
    """A new root and the nodes it needs that its parent tree does not have, by hash; and the
    nodes of the parent tree that the new tree no longer has (what pruning may delete later)."""

    root: bytes
    nodes: dict[bytes, bytes]
    replaced: frozenset[bytes] = frozenset()


def _first_diff(a: int, b: int) -> int:
    """The first bit (from the top) in which two key paths differ; ``_BITS`` if they are equal."""
    return _BITS - (a ^ b).bit_length()


def _path_of(item: tuple[int, bytes, bytes, bytes | None, Ref | None]) -> int:
    return item[0]


def _bit(path: int, bit: int) -> int:
    return (path >> (_BITS - 1 - bit)) & 1


def _boundary(path: int, bit: int) -> int:
    """The smallest key path with ``path``'s bits above ``bit`` and 1 at ``bit``."""
    shift = _BITS - 1 - bit
    return ((path >> shift) | 1) << shift


class _Batch:
    """One update: the sorted writes and the nodes created so far."""

    def __init__(self, hash_fn: HashFn, source: NodeSource, writes: Mapping[bytes, bytes | None]) -> None:
        self.h = hash_fn
        self.source = source
        self.new: dict[bytes, bytes] = {}
        self.replaced: set[bytes] = set()  # parent nodes rebuilt or removed (some may come back in ``new``)
        entries = sorted((hash_fn(k), k, v) for k, v in writes.items())
        self.paths = [int.from_bytes(p) for p, _, _ in entries]
        self.entries = entries

    # --- making nodes ------------------------------------------------------------------------

    def leaf(self, path: bytes, key: bytes, value: bytes) -> Ref:
        head = leaf_head(path, self.h(value))
        node_hash = self.h(head)
        self.new[node_hash] = encode_leaf(head, key, value)
        return node_hash, path

    def join(self, bit: int, left: Ref | None, right: Ref | None) -> Ref | None:
        """The subtree made of two sibling subtrees split at ``bit`` (either may be empty)."""
        if left is None:
            return right
        if right is None:
            return left
        min_path = left[1] if left[1] is not None else self.min_path(left[0])
        head = branch_head(bit, left[0], right[0])
        node_hash = self.h(head)
        self.new[node_hash] = encode_branch(head, min_path)
        return node_hash, min_path

    def min_path(self, node_hash: bytes) -> bytes:
        raw = read_node(self.source, node_hash)
        return raw[1 : 1 + HASH_SIZE] if raw[0] == LEAF else raw[BRANCH_HEAD:]

    # --- building and applying ---------------------------------------------------------------

    def build(self, items: list[tuple[int, bytes, bytes, bytes | None, Ref | None]]) -> Ref | None:
        """A fresh subtree over ``items`` sorted by path: (path, path bytes, key, value, existing leaf)."""
        live = [it for it in items if it[3] is not None or it[4] is not None]
        return self._build(live, 0, len(live))

    def _build(self, items: list[tuple[int, bytes, bytes, bytes | None, Ref | None]], lo: int, hi: int) -> Ref | None:
        if hi - lo == 1:
            _, path, key, value, existing = items[lo]
            if existing is not None:
                return existing
            assert value is not None
            return self.leaf(path, key, value)
        if hi == lo:
            return None
        bit = _first_diff(items[lo][0], items[hi - 1][0])
        bound = _boundary(items[lo][0], bit)
        mid = bisect_left(items, bound, lo + 1, hi, key=_path_of)
        return self.join(bit, self._build(items, lo, mid), self._build(items, mid, hi))

    def items(self, lo: int, hi: int) -> list[tuple[int, bytes, bytes, bytes | None, Ref | None]]:
        return [(self.paths[i], e[0], e[1], e[2], None) for i, e in zip(range(lo, hi), self.entries[lo:hi])]

    def apply(self, node_hash: bytes, lo: int, hi: int) -> Ref | None:
        """The subtree ``node_hash`` with writes ``lo:hi`` applied (all inside its parent's prefix)."""
        raw = self.source.get(node_hash)
        if raw is None or len(raw) != _BRANCH_SIZE or raw[0] != BRANCH:
            return self.apply_leaf(node_hash, read_node(self.source, node_hash), lo, hi)  # read_node: checked or TreeError
        paths = self.paths
        bit = raw[1]
        min_bytes = raw[BRANCH_HEAD:]
        min_path = int.from_bytes(min_bytes)
        split = min(_first_diff(paths[lo], min_path), _first_diff(paths[hi - 1], min_path))
        if split < bit:
            # Some writes leave this branch's common prefix at bit ``split``: a new branch above it.
            mid = bisect_left(paths, _boundary(min_path, split), lo, hi)  # writes lo:mid have 0 there
            if _bit(min_path, split):
                inside = self.apply(node_hash, mid, hi) if mid < hi else (node_hash, min_bytes)
                return self.join(split, self.build(self.items(lo, mid)), inside)
            inside = self.apply(node_hash, lo, mid) if lo < mid else (node_hash, min_bytes)
            return self.join(split, inside, self.build(self.items(mid, hi)))
        self.replaced.add(node_hash)  # rebuilt over its new children (or gone, if one side empties)
        mid = bisect_left(paths, _boundary(min_path, bit), lo, hi)
        new_left = self.apply(raw[2:_RIGHT], lo, mid) if lo < mid else (raw[2:_RIGHT], min_bytes)
        new_right = self.apply(raw[_RIGHT:BRANCH_HEAD], mid, hi) if mid < hi else (raw[_RIGHT:BRANCH_HEAD], None)
        return self.join(bit, new_left, new_right)

    def apply_leaf(self, node_hash: bytes, raw: bytes, lo: int, hi: int) -> Ref | None:
        """The leaf ``node_hash`` with writes ``lo:hi`` applied: one subtree of the old and new leaves."""
        path_bytes = raw[1 : 1 + HASH_SIZE]
        path = int.from_bytes(path_bytes)
        items = self.items(lo, hi)
        at = bisect_left(self.paths, path, lo, hi)
        if not (at < hi and self.paths[at] == path):  # the old leaf stays, among the new ones
            key, _ = leaf_key_value(raw)
            items.insert(at - lo, (path, path_bytes, key, None, (node_hash, path_bytes)))
        else:
            self.replaced.add(node_hash)  # written over or deleted
        return self.build(items)


def update(hash_fn: HashFn, source: NodeSource, root: bytes, writes: Mapping[bytes, bytes | None]) -> TreeUpdate:
    """Apply ``writes`` (``None``: delete) to the tree ``root`` read from ``source``."""
    check_hash_size(hash_fn)
    if not writes:
        return TreeUpdate(root, {})
    batch = _Batch(hash_fn, source, writes)
    n = len(batch.entries)
    result = batch.build(batch.items(0, n)) if root == EMPTY_ROOT else batch.apply(root, 0, n)
    replaced = frozenset(h for h in batch.replaced if h not in batch.new)  # a write of the same value rebuilds the same node
    return TreeUpdate(EMPTY_ROOT if result is None else result[0], batch.new, replaced)


def lookup(hash_fn: HashFn, source: NodeSource, root: bytes, key: bytes) -> bytes | None:
    """The value of ``key`` in the tree ``root``, or None."""
    if root == EMPTY_ROOT:
        return None
    path_bytes = hash_fn(key)
    path = int.from_bytes(path_bytes)
    node_hash = root
    while True:
        raw = read_node(source, node_hash)
        if raw[0] == LEAF:
            if raw[1 : 1 + HASH_SIZE] != path_bytes:
                return None
            return leaf_key_value(raw)[1]
        node_hash = raw[2 + HASH_SIZE : BRANCH_HEAD] if _bit(path, raw[1]) else raw[2 : 2 + HASH_SIZE]
