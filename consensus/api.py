"""The consensus engine interface, and what an engine needs from the node (the application).

Engines order blocks; they never touch the store or execute transactions themselves. The node
implements ``Application``: it proposes candidate blocks from its pool, validates blocks proposed
by others by re-executing them, and commits a block together with its commit certificate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from node.crypto.base import CryptoSuite
from node.execution.system.sysconfig import ChainParams
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


class Application(Protocol):
    """The node side of consensus."""

    chain_id: str
    suite: CryptoSuite

    def head(self) -> ChainHead: ...

    def params(self) -> ChainParams: ...

    def validators(self) -> list[bytes]:
        """Public keys of the validators for the next height, in a fixed order."""
        ...

    def propose(self, *, height: int, view: int, proposer: bytes, timestamp_ms: int, max_txs: int) -> Proposal:
        """Build and execute a candidate block from pending transactions (nothing is committed)."""
        ...

    def validate(self, block: Block) -> bytes:
        """Re-execute a block proposed by someone else; return its hash or raise ConsensusError."""
        ...

    def commit(self, block: Block, certificate: CommitCertificate) -> None:
        """Persist a finalised block atomically and notify subscribers."""
        ...

    async def wait_for_transactions(self, timeout: float) -> bool: ...


class ConsensusEngine(ABC):
    """An ordering protocol behind one interface; genesis chooses which."""

    name: str

    @abstractmethod
    async def start(self) -> None:
        """Begin participating; returns once background tasks are running."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop background tasks; safe to call twice."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """A JSON-able summary for ``node_info``."""


class ConsensusEnv(Protocol):
    """What a consensus state machine may do to the outside world: tell time, set timers, send to
    the other validators, and ask for catch-up. The real event loop and the simulator both provide it."""

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
