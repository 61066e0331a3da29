"""World state: committed key-value pairs plus stacked overlays for blocks and transactions.

A block executes in a ``StateOverlay`` over the committed state; each transaction in a child
overlay that is merged on success and dropped on failure, so a failed transaction leaves nothing
behind. Keys are ``contract address (20 bytes) + contract key``.

State root: ``root_h = hash(b"consortia-state" + root_{h-1} + hash(canonical sorted write set))``.
It commits to the whole state after block h given the genesis state (which is the write set of
block 0), so two nodes whose states diverge disagree at the first differing block; computing it
costs O(writes in the block), not O(state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from node.wire import codec

ZERO_ROOT = bytes(32)
_DELETED = None


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class CommittedState:
    """Read-only view of the state as of the last committed block."""

    def __init__(self, getter: Callable[[bytes], bytes | None]) -> None:
        self._getter = getter

    def get(self, key: bytes) -> bytes | None:
        return self._getter(key)


class StateOverlay:
    """Uncommitted writes over a parent view; ``None`` values are deletions."""

    __slots__ = ("_parent", "_writes")

    def __init__(self, parent: StateReader) -> None:
        self._parent = parent
        self._writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._parent.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        self._writes[key] = _DELETED

    def child(self) -> StateOverlay:
        return StateOverlay(self)

    def merge_into(self, parent: StateOverlay) -> None:
        parent._writes.update(self._writes)

    @property
    def writes(self) -> Mapping[bytes, bytes | None]:
        return self._writes

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._writes)


class PendingState:
    """The state after an executed but uncommitted block: its write set over its parent's state.
    Read-only; pipelined consensus executes the next block over it before this one commits."""

    __slots__ = ("_parent", "_writes")

    def __init__(self, parent: StateReader, writes: Mapping[bytes, bytes | None]) -> None:
        self._parent = parent
        self._writes = writes

    def get(self, key: bytes) -> bytes | None:
        writes = self._writes
        if key in writes:
            return writes[key]
        return self._parent.get(key)


def write_set_digest(hash_fn: Callable[[bytes], bytes], writes: Mapping[bytes, bytes | None]) -> bytes:
    """Hash of the block's writes in key order (``nil`` marks a deletion)."""
    entries = [[k, writes[k]] for k in sorted(writes)]
    return hash_fn(codec.encode_sorted(entries))  # only bytes and nil: already canonical


def next_state_root(hash_fn: Callable[[bytes], bytes], prev_root: bytes, writes: Mapping[bytes, bytes | None]) -> bytes:
    return hash_fn(b"consortia-state" + prev_root + write_set_digest(hash_fn, writes))
