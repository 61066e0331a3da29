"""What JSON-RPC handlers may use: one explicit environment instead of callbacks threaded through.

A handler gets an ``RpcEnv`` as its first argument and reaches the node only through it: the
chain's read side, the few write operations clients have (admission and read-only calls), the
pool, who this node is, the consensus engine's status, the peers, the event bus and the
bus-fed metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.chain import Chain
from node.chainview import ChainReader
from node.events import EventBus
from node.execution.system.sysconfig import NodeRecord
from node.metrics import NodeMetrics
from node.params import ChainParams
from node.rpc.access import AccessPolicy
from node.statetree.multiproof import CallProof
from node.txpool import TxPool

PeerList = Callable[[], list[dict[str, Any]]]
SyncStatus = Callable[[], dict[str, Any]]


class ChainService(Protocol):
    """The chain's write side and current rules, as far as RPC handlers use them."""

    async def submit_async(self, raw: bytes, *, forward: bool = ...) -> bytes: ...

    async def query_async(self, to: bytes, method: str, args: bytes, sender: bytes = ...) -> bytes: ...

    async def query_proven_async(self, to: bytes, method: str, args: bytes, sender: bytes = ...) -> tuple[bytes, CallProof]: ...

    def params(self) -> ChainParams: ...

    def validators(self) -> list[bytes]: ...

    def nodes(self) -> list[NodeRecord]: ...


class EngineStatus(Protocol):
    """A consensus engine, as far as ``node_info`` reports on it."""

    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SyncLag:
    height: int  # our committed head
    network_height: int  # committed by at least f + 1 validators, by their own announcements

    @property
    def behind(self) -> int:
        return self.network_height - self.height


@dataclass
class NodeIdentity:
    """Who this node is. ``role`` is its role in the committed node list ("validator",
    "observer", or "unlisted" before admission and after removal): the node process updates it
    when a block changes the list."""

    name: str
    role: str
    pubkey: bytes


def no_peers() -> list[dict[str, Any]]:
    """The peer list of a node without peer networking (an in-process test node)."""
    return []


def no_fork() -> dict[str, Any] | None:
    """The fork report of a node without fork detection (an in-process test node)."""
    return None


def no_sync() -> dict[str, Any]:
    """The sync status of a node without peer networking."""
    return {"mode": "none"}


@dataclass(frozen=True)
class RpcEnv:
    reader: ChainReader
    chain: ChainService
    pool: TxPool
    identity: NodeIdentity
    engine: EngineStatus | None  # None on observers, which run no consensus
    peers: PeerList
    bus: EventBus
    metrics: NodeMetrics
    sync: SyncStatus = no_sync  # how the node catches up, and a snapshot's progress (node.p2p.service)
    access: AccessPolicy = field(default_factory=AccessPolicy)  # admin-only methods and rate limits
    network_height: Callable[[], int] | None = None  # what the validators announce (NetworkService); None: no peers
    fork: Callable[[], dict[str, Any] | None] = no_fork  # node.forkwatch.ForkWatch.summary: null while no fork is known

    @classmethod
    def for_chain(cls, chain: Chain, identity: NodeIdentity, metrics: NodeMetrics, *, engine: EngineStatus | None,
                  peers: PeerList = no_peers, sync: SyncStatus = no_sync, access: AccessPolicy | None = None,
                  network_height: Callable[[], int] | None = None,
                  fork: Callable[[], dict[str, Any] | None] = no_fork) -> RpcEnv:
        """The environment for handlers serving ``chain``."""
        return cls(
            reader=ChainReader(chain.store, chain.suite, chain.genesis, chain.pool),
            chain=chain,
            pool=chain.pool,
            identity=identity,
            engine=engine,
            peers=peers,
            bus=chain.bus,
            metrics=metrics,
            sync=sync,
            access=access if access is not None else AccessPolicy(),
            network_height=network_height,
            fork=fork,
        )

    def sync_lag(self) -> SyncLag:
        """How far this node's committed head is behind what the network announces."""
        head = self.reader.height
        network = head if self.network_height is None else max(head, self.network_height())
        return SyncLag(head, network)

    def engine_status(self) -> dict[str, Any]:
        """The engine's own summary; an observer reports how many blocks it caught up by sync."""
        if self.engine is not None:
            return self.engine.status()
        return {"engine": "observer", "synced_blocks": self.metrics.blocks_synced}
