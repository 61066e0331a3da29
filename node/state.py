"""World state: committed key-value pairs plus stacked overlays for blocks and transactions.

A block executes in a ``StateOverlay`` over the committed state; each transaction in a child
overlay that is merged on success and dropped on failure, so a failed transaction leaves nothing
behind. Keys are ``contract address (20 bytes) + contract key``.

The state root in a block header is the root of the authenticated state tree over every key and
value after the block (``node.statetree``, docs/state-proofs.md): it proves single entries, and
two nodes whose states diverge disagree at the first differing block. The executor updates the
tree with the block's write set (``StateOverlay.writes``) in one batch; a ``PendingState``'s tree
nodes stay in memory beside it until its block commits (``node.chain``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from node.boundedcache import MISSING, GenerationalCache

_DELETED = None
_ABSENT = object()  # not in a layer's writes (``None`` there means deleted)


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class CommittedState:
    """Read-only view of the state as of the last committed block, with the entries read lately
    (present or absent) kept in memory: chain parameters, roles and frozen flags are read for
    every transaction. Whoever commits a block calls ``apply`` with its writes, so a cached
    entry is never stale; ``clear`` after anything else replaces the state (a snapshot)."""

    __slots__ = ("_cache", "_getter")

    def __init__(self, getter: Callable[[bytes], bytes | None], capacity: int = 65_536) -> None:
        self._getter = getter
        self._cache: GenerationalCache[bytes, bytes | None] = GenerationalCache(capacity)

    def get(self, key: bytes) -> bytes | None:
        value = self._cache.lookup(key)
        if value is MISSING:
            value = self._getter(key)
            self._cache.put(key, value)
        return value  # type: ignore[return-value]

    def apply(self, writes: Mapping[bytes, bytes | None]) -> None:
        """A block that wrote ``writes`` (None: deleted) is now committed."""
        self._cache.refresh(writes)

    def clear(self) -> None:
        self._cache.clear()


class StateOverlay:
    """Uncommitted writes over a parent view; ``None`` values are deletions."""

    __slots__ = ("_parent", "_writes")

    def __init__(self, parent: StateReader) -> None:
        self._parent = parent
        self._writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        # Down the stack of overlays in one loop (a transaction's, its block's, pending parent
        # blocks'): contracts read state for every call, and a call per layer adds up.
        layer: StateReader = self
        while type(layer) in _LAYERS:
            writes = layer._writes  # type: ignore[attr-defined]
            value = writes.get(key, _ABSENT)
            if value is not _ABSENT:
                return value
            layer = layer._parent  # type: ignore[attr-defined]
        return layer.get(key)

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

    get = StateOverlay.get  # the same walk down the layers (both keep ``_writes`` and ``_parent``)



class RecordingState:
    """A read-only view that remembers every key read through it, present or not (in first-read
    order): what a call proof must cover."""

    __slots__ = ("_parent", "reads")

    def __init__(self, parent: StateReader) -> None:
        self._parent = parent
        self.reads: dict[bytes, None] = {}

    def get(self, key: bytes) -> bytes | None:
        self.reads[key] = None
        return self._parent.get(key)


_LAYERS = (StateOverlay, PendingState)  # the layers ``StateOverlay.get`` walks through without a call each
