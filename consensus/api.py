"""The consensus engine interface, and what an engine needs from the node (the application).

Engines order blocks; they never touch the store or execute transactions themselves. The node
implements ``Application``: it proposes candidate blocks from its pool, validates blocks proposed
by others by re-executing them, and commits a block together with its commit certificate.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from node.crypto.base import CryptoSuite
from node.params import ChainParams
from node.wire.types import Block, CommitCertificate


@dataclass(frozen=True)
class ChainHead:
    height: int
    block_hash: bytes
    state_root: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Proposal:
    block: Block
    block_hash: bytes


class ConsensusStore(Protocol):
    """The node database as consensus sees it: a small key-value area for the engine's own
    durable promises (the PBFT vote journal, Raft's term, vote and pending entry) and lookups of
    committed blocks' hashes and certificates."""

    def meta_get(self, name: str) -> bytes | None: ...

    def meta_put(self, name: str, value: bytes, *, sync: bool = True) -> None:
        """Write durably (``sync``: flushed to disk before returning) under ``name``."""
        ...

    def get_block_hash(self, height: int) -> bytes | None: ...

    def get_certificate(self, height: int) -> CommitCertificate | None: ...


class Application(Protocol):
    """The node side of consensus: everything an engine core may use from the node."""

    chain_id: str
    suite: CryptoSuite

    @property
    def store(self) -> ConsensusStore: ...

    def head(self) -> ChainHead: ...

    def params(self) -> ChainParams: ...

    def validators(self) -> list[bytes]:
        """Public keys of the validators for the next height, in a fixed order."""
        ...

    def has_pending(self, in_flight: int = 0, at_least: int = 1) -> bool:
        """At least ``at_least`` transactions wait in the pool besides the ``in_flight`` ones already
        in uncommitted blocks."""
        ...

    def propose(
        self, *, height: int, view: int, proposer: bytes, timestamp_ms: int, max_txs: int, parent_hash: bytes | None = None
    ) -> Proposal:
        """Build and execute a candidate block on ``parent_hash`` (default: the committed head) from
        pending transactions; nothing is committed. A parent that is not committed must be a block
        this node proposed or validated."""
        ...

    def validate(self, block: Block) -> bytes:
        """Re-execute a block proposed by someone else; return its hash or raise ConsensusError."""
        ...

    def commit(self, block: Block, certificate: CommitCertificate) -> None:
        """Persist a finalised block atomically and notify subscribers."""
        ...


class ConsensusEngine(ABC):
    """An ordering protocol behind one interface; genesis chooses which (``consensus.registry``).

    The node drives an engine through exactly these methods: the peer layer hands it consensus
    frames, and the node's event bus tells it of admitted transactions, (re)connected peers and
    blocks committed by catch-up."""

    name: str

    @abstractmethod
    async def start(self) -> None:
        """Begin participating; returns once background tasks are running."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop background tasks; safe to call twice."""

    def halt(self) -> None:
        """Stop voting and proposing at once, from inside an event handler (a fork was detected):
        the synchronous part of ``stop``. Engines override it; this default schedules ``stop``."""
        asyncio.get_running_loop().create_task(self.stop())

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """A JSON-able summary for ``node_info``."""

    @abstractmethod
    def on_network_message(self, data: bytes) -> None:
        """One consensus frame from a validator (undecoded; anything malformed is dropped and counted)."""

    @abstractmethod
    def on_transactions(self) -> None:
        """Transactions entered the pool: a primary or leader may propose sooner."""

    @abstractmethod
    def on_peer_connected(self) -> None:
        """A validator (re)connected: repeat what it may have missed."""

    @abstractmethod
    def on_synced(self) -> None:
        """Blocks were committed by catch-up: move the state machine to the new head."""


class ConsensusEnv(Protocol):
    """What a consensus state machine may do to the outside world: tell time, set timers, send to
    the other validators, ask for catch-up and report view changes. The real event loop and the
    simulator both provide it."""

    def now_ms(self) -> int: ...

    def broadcast(self, msg: Any) -> None:
        """Send a signed consensus message to the other validators (best effort)."""
        ...

    def set_timer(self, name: str, delay_ms: int, callback: Callable[[], None]) -> None: ...

    def cancel_timer(self, name: str) -> None: ...

    def request_sync(self, target_height: int, hint: bytes | None) -> None:
        """We saw evidence that the chain is at ``target_height`` or beyond: catch up."""
        ...

    def peer_behind(self, peer: bytes, height: int) -> None:
        """``peer`` is still working on ``height``, which we committed: offer it our blocks."""
        ...

    def view_changed(self, view: int, height: int) -> None:
        """The engine entered ``view`` (a PBFT view, a Raft term) while working on ``height``."""
        ...


class ConsensusCore(Protocol):
    """A consensus state machine (PBFT, Raft): driven by decoded messages, timers and the node,
    acting only through its ``ConsensusEnv``."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def on_message(self, msg: Any) -> None:
        """One decoded message of this engine's own kind."""
        ...

    def on_transactions(self) -> None: ...

    def on_peer_connected(self) -> None: ...

    def advance(self) -> None:
        """The committed head moved (a commit here or by catch-up): follow it."""
        ...
