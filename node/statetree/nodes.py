"""Tree nodes: their hashes, their stored encodings, and where they are read from.

Hashes (``H`` is the chain suite's hash, SM3 or SHA-256, 32 bytes):

- key path: ``H(key)``, read most significant bit first (bit 0 is the top bit of byte 0);
- leaf:     ``H(0x00 || H(key) || H(value))``;
- branch:   ``H(0x01 || bit || left || right)``, ``bit`` (one byte, 0..255) the first bit in
  which the keys below differ, ``left`` the child whose keys have that bit 0;
- empty tree: ``EMPTY_ROOT``, 32 zero bytes (never the hash of a node).

A node is stored under its hash as its hash preimage followed by what the node needs locally and
a proof never does: a leaf adds the key and the value (so any past version can be read and
proven), a branch the smallest key path below it (so a batch update can tell where new keys
leave the branch's common prefix without reading further down).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from node.boundedcache import MISSING, GenerationalCache
from node.errors import StoreError

HashFn = Callable[[bytes], bytes]

HASH_SIZE = 32
EMPTY_ROOT = bytes(HASH_SIZE)
LEAF = 0x00
BRANCH = 0x01
LEAF_HEAD = 1 + 2 * HASH_SIZE  # 0x00 || key path || value hash: 65 bytes, the leaf's hash preimage
BRANCH_HEAD = 2 + 2 * HASH_SIZE  # 0x01 || bit || left || right: 66 bytes, the branch's hash preimage
_U32 = struct.Struct(">I")
PINNED_BITS = 17  # upper tree levels kept in memory: at most 131,071 branches of a tree, ~30 MB (twice that with old roots' nodes read for proofs)


class TreeError(StoreError):
    """A tree node the node should have is missing or malformed: its own storage is damaged."""


class NodeSource(Protocol):
    """Where tree nodes are read from by hash: a dict, a ``NodeLayer``, or the committed store."""

    def get(self, node_hash: bytes, /) -> bytes | None: ...


class CommittedNodes:
    """The committed nodes, read through a getter (the store's ``tree_node``)."""

    __slots__ = ("_getter",)

    def __init__(self, getter: Callable[[bytes], bytes | None]) -> None:
        self._getter = getter

    def get(self, node_hash: bytes, /) -> bytes | None:
        return self._getter(node_hash)


class CachedNodes:
    """The committed nodes with the ones a block is most likely to read kept in memory.

    Nodes never change, so a cached node is never stale. Every write reads its key's path from
    the root down, so the branches near the root are read by nearly every block, and the deep
    ones about once per tree size of writes. A recency cache alone loses the middle levels: each
    block also adds a path's worth of new deep nodes, which push them out. So branches splitting
    at a bit below ``pinned_bits`` (with random key paths, the top ``pinned_bits`` levels: at most
    ``2 ** pinned_bits - 1`` of them in any tree) are kept until a commit replaces them; all other
    nodes go through a two-generation recency cache of ``capacity`` entries (``node.boundedcache``)."""

    __slots__ = ("_cache", "_pin_limit", "_pinned", "_pinned_bits", "_source")

    def __init__(self, source: NodeSource, capacity: int = 131_072, pinned_bits: int = PINNED_BITS) -> None:
        self._source = source
        self._cache: GenerationalCache[bytes, bytes] = GenerationalCache(capacity)
        self._pinned: dict[bytes, bytes] = {}
        self._pinned_bits = pinned_bits
        # Nodes of older roots read for proofs are pinned too and only a commit that replaces a node
        # unpins it, so the limit leaves room for them; past it, the pinned set starts again.
        self._pin_limit = 2 << pinned_bits if pinned_bits else 0

    def get(self, node_hash: bytes, /) -> bytes | None:
        pinned = self._pinned.get(node_hash)
        if pinned is not None:
            return pinned
        cached = self._cache.lookup(node_hash)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        raw = self._source.get(node_hash)
        if raw is not None:
            self._keep(node_hash, raw)
        return raw

    def _keep(self, node_hash: bytes, raw: bytes) -> None:
        if len(raw) > 1 and raw[0] == BRANCH and raw[1] < self._pinned_bits:
            if len(self._pinned) >= self._pin_limit:
                self._pinned = {}
            self._pinned[node_hash] = raw
        else:
            self._cache.put(node_hash, raw)

    def add(self, nodes: Mapping[bytes, bytes], replaced: Iterable[bytes] = ()) -> None:
        """Nodes just committed to the source, and the nodes of the previous root they replace."""
        pinned = self._pinned
        for node_hash in replaced:
            pinned.pop(node_hash, None)
        keep = self._keep
        for node_hash, raw in nodes.items():
            keep(node_hash, raw)

    def clear(self) -> None:
        self._pinned = {}
        self._cache.clear()

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    def __len__(self) -> int:
        return len(self._cache) + len(self._pinned)


class NodeLayer:
    """A pending block's new nodes over its parent's: reads fall through, nothing is copied."""

    __slots__ = ("_nodes", "_parent")

    def __init__(self, parent: NodeSource, nodes: Mapping[bytes, bytes]) -> None:
        self._parent = parent
        self._nodes = nodes

    def get(self, node_hash: bytes, /) -> bytes | None:
        raw = self._nodes.get(node_hash)
        return raw if raw is not None else self._parent.get(node_hash)


def check_hash_size(hash_fn: HashFn) -> None:
    if len(hash_fn(b"")) != HASH_SIZE:
        raise ValueError(f"the state tree needs a {HASH_SIZE}-byte hash")


def path_of(hash_fn: HashFn, key: bytes) -> bytes:
    return hash_fn(key)


def leaf_head(key_path: bytes, value_hash: bytes) -> bytes:
    return b"\x00" + key_path + value_hash


def branch_head(bit: int, left: bytes, right: bytes) -> bytes:
    return bytes((BRANCH, bit)) + left + right


def encode_leaf(head: bytes, key: bytes, value: bytes) -> bytes:
    return head + _U32.pack(len(key)) + key + value


def encode_branch(head: bytes, min_path: bytes) -> bytes:
    return head + min_path


def read_node(source: NodeSource, node_hash: bytes) -> bytes:
    """The stored node ``node_hash``; a missing or malformed one is a ``TreeError``."""
    raw = source.get(node_hash)
    if raw is None:
        raise TreeError(f"state tree node {node_hash.hex()} is missing")
    kind = raw[0] if raw else -1
    if kind == LEAF and len(raw) >= LEAF_HEAD + 4 and len(raw) >= LEAF_HEAD + 4 + _U32.unpack_from(raw, LEAF_HEAD)[0]:
        return raw
    if kind == BRANCH and len(raw) == BRANCH_HEAD + HASH_SIZE:
        return raw
    raise TreeError(f"state tree node {node_hash.hex()} is malformed")


def head_root_is_stored(hash_fn: HashFn, source: NodeSource, root: bytes) -> bool:
    """Whether the tree under ``root`` starts with a well-formed stored node whose hash is ``root``
    (a start-up check: a damaged or missing root node means the state cannot be trusted)."""
    if root == EMPTY_ROOT:
        return True
    try:
        raw = read_node(source, root)
    except StoreError:
        return False
    head = LEAF_HEAD if raw[0] == LEAF else BRANCH_HEAD
    return hash_fn(raw[:head]) == root


def leaf_key_value(raw: bytes) -> tuple[bytes, bytes]:
    """The key and value stored in a leaf read by ``read_node``."""
    size = _U32.unpack_from(raw, LEAF_HEAD)[0]
    start = LEAF_HEAD + 4
    return raw[start : start + size], raw[start + size :]
