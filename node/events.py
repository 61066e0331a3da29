"""The node's in-process event bus: one typed channel for what happened inside the node.

Publishers (the chain, the peer layer, block sync, the consensus adapter) say what happened;
subscribers (RPC subscriptions, transaction forwarding, the consensus engine, metrics, and later
the audit indexer, the explorer and the workers' feeds) react. Nobody holds a list of listeners
of its own, and no publisher knows who listens.

Guarantees a subscriber can rely on:

- **Order.** Every subscriber sees events in the order they were published. A handler that
  publishes while an event is being delivered does not jump the queue: its event is delivered,
  to everyone, after the current one has reached every subscriber.
- **Commits are never stalled.** ``publish`` runs the *inline* handlers (``subscribe``) on the
  caller's thread and returns; they must be quick (set a flag, bump a counter, schedule work).
  A handler that raises is logged and counted, and delivery goes on. Work that may be slow
  belongs behind a *queue* (``queue``): a bounded buffer the subscriber drains at its own pace.
  A queue that is full drops the newest events and remembers how many it dropped, so its reader
  knows to catch up from the store (which always has every committed block); publishing never
  waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from node.wire.types import Block, CommitCertificate, Receipt

log = logging.getLogger("consortia.events")

# --- the events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockTiming:
    """Where this node's time on a committed block went: executing it (when it was proposed or
    validated here) and writing its batch to the store. For metrics; never part of consensus."""

    execute_seconds: float
    store_seconds: float


@dataclass(frozen=True)
class BlockCommitted:
    """A block and its receipts are durably in the store (published after the write batch).
    ``tx_hashes``: its transactions' hashes, in block order. ``catchup``: committed by block sync
    (fetched from a peer), not at the end of a consensus round this node took part in."""

    block: Block
    block_hash: bytes
    receipts: tuple[Receipt, ...]
    certificate: CommitCertificate | None
    tx_hashes: tuple[bytes, ...] = ()
    timing: BlockTiming | None = None
    catchup: bool = False


@dataclass(frozen=True)
class TxAdmitted:
    """A transaction entered this node's pool. ``local``: from one of this node's own clients
    (forward it to the validators), not forwarded by a peer or first seen inside a block."""

    tx_hash: bytes
    raw: bytes
    local: bool


@dataclass(frozen=True)
class TxRejected:
    """A transaction was refused admission to this node's pool. ``reason``: the error's kind
    (``ConsortiaError.kind``, a small fixed set: a metrics label); ``local`` as in ``TxAdmitted``."""

    reason: str
    local: bool


@dataclass(frozen=True)
class PeerConnected:
    """An authenticated peer link is up."""

    pubkey: bytes
    role: str


@dataclass(frozen=True)
class PeerDisconnected:
    pubkey: bytes
    reason: str


@dataclass(frozen=True)
class PeerRefused:
    """A connection attempt was refused or a link closed for abuse (for metrics and audit).
    ``code``: the refusal's category, one of a small fixed set (a metrics label)."""

    reason: str
    abuse: bool
    code: str = "other"


@dataclass(frozen=True)
class ConnectionRefused:
    """A listener (``listener``: "p2p" or "rpc") closed a new connection before serving it, or
    failed to accept one (``reason``: fd_reserve, too_many_from_source, evicted, accept_failed, ...)."""

    listener: str
    reason: str


@dataclass(frozen=True)
class SyncProgress:
    """Catch-up committed ``applied`` certified blocks; the head is now ``height``."""

    applied: int
    height: int
    target: int


@dataclass(frozen=True)
class ViewChanged:
    """The consensus engine entered ``view`` (PBFT view, Raft term) at ``height``."""

    view: int
    height: int


@dataclass(frozen=True)
class NodeListChanged:
    """The committed block at ``height`` changed the on-chain node list (an admission, promotion,
    demotion or removal): from ``height + 1`` on, links, roles and the validator set follow it."""

    height: int


@dataclass(frozen=True)
class NodeFailed:
    """Part of the node (``component``: "store") failed in a way it cannot go on from safely: the
    node stops taking part in consensus and sync, reports unhealthy and shuts down."""

    component: str
    reason: str


@dataclass(frozen=True)
class ForkDetected:
    """Two commit certificates for different blocks at one height (``evidence``: a
    ``node.forkwatch.ForkEvidence``): the node stops voting, proposing and applying blocks, and
    reports unhealthy until an operator clears the evidence. ``restored``: found in the database
    at start-up, not detected now."""

    evidence: Any
    restored: bool = False


E = TypeVar("E")
Handler = Callable[[E], None]


# --- the bus --------------------------------------------------------------------------------


class EventQueue(Generic[E]):
    """A bounded buffer of events for one asynchronous subscriber."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[E] = deque()
        self._ready = asyncio.Event()
        self.closed = False

    def put(self, event: E) -> None:
        if len(self._items) >= self.maxsize:
            self.dropped += 1  # the reader finds out through ``dropped`` and catches up from the store
            return
        self._items.append(event)
        self._ready.set()

    async def get(self) -> E:
        """The next event, waiting if there is none."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def get_nowait(self) -> E | None:
        return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)


class EventBus:
    """Typed publish/subscribe within one node process (see the module docstring for guarantees)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = {}
        self._backlog: deque[Any] = deque()
        self._delivering = False
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> Callable[[], None]:
        """Call ``handler`` inline for every event of ``event_type``; returns an unsubscribe function."""
        handlers = self._handlers.setdefault(event_type, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def queue(self, event_type: type[E], maxsize: int = 1024) -> tuple[EventQueue[E], Callable[[], None]]:
        """A bounded queue that receives every event of ``event_type``, and its unsubscribe function."""
        q: EventQueue[E] = EventQueue(maxsize)
        unsubscribe = self.subscribe(event_type, q.put)

        def close() -> None:
            q.closed = True
            unsubscribe()

        return q, close

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every subscriber of its type, in subscription order."""
        self.published += 1
        if not self._handlers.get(type(event)):
            return
        self._backlog.append(event)
        if self._delivering:
            return  # delivered by the outer publish once the current event has reached everyone
        self._delivering = True
        try:
            while self._backlog:
                current = self._backlog.popleft()
                for handler in list(self._handlers.get(type(current), ())):
                    try:
                        handler(current)
                    except Exception:  # a broken subscriber must not stop the chain
                        self.handler_errors += 1
                        log.exception("event=bus_handler_failed event_type=%s", type(current).__name__)
        finally:
            self._delivering = False

    def subscriber_count(self, event_type: type) -> int:
        return len(self._handlers.get(event_type, ()))


__all__ = [
    "BlockCommitted",
    "BlockTiming",
    "EventBus",
    "EventQueue",
    "ForkDetected",
    "NodeFailed",
    "NodeListChanged",
    "PeerConnected",
    "PeerDisconnected",
    "PeerRefused",
    "ConnectionRefused",
    "SyncProgress",
    "TxAdmitted",
    "TxRejected",
    "ViewChanged",
]
