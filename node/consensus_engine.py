"""Building the genesis-chosen consensus engine for a node and connecting it to the event bus.

The one place where the node meets an engine: the engine is looked up by name in
``consensus.registry``, its core gets the chain as its ``Application``, and the bus tells it of
admitted transactions, (re)connected peers, blocks committed by catch-up and a detected fork (halt). Everything else it
needs goes through the callbacks of its ``AsyncEnv``.
"""

from __future__ import annotations

from collections.abc import Callable

from consensus.api import ConsensusEngine
from consensus.registry import engine_spec
from consensus.runtime import AsyncEnv, CoreEngine
from node.chain import Chain
from node.crypto.base import KeyPair
from node.events import EventBus, ForkDetected, PeerConnected, SyncProgress, TxAdmitted, ViewChanged


def build_engine(
    chain: Chain,
    key: KeyPair,
    *,
    send: Callable[[bytes], None],
    request_sync: Callable[[int, bytes | None], None],
    offer_blocks: Callable[[bytes, int], None],
) -> ConsensusEngine:
    """The chain's engine (by its genesis) for the validator holding ``key``, subscribed to the chain's bus."""
    spec = engine_spec(chain.genesis.consensus)
    bus = chain.bus
    env = AsyncEnv(send, request_sync, offer_blocks, spec.encode,
                   view_changed=lambda view, height: bus.publish(ViewChanged(view, height)))
    engine = CoreEngine(spec.name, spec.make_core(chain, key, env), spec.decode, env)
    connect_engine(bus, engine)
    return engine


def connect_engine(bus: EventBus, engine: ConsensusEngine) -> Callable[[], None]:
    """Subscribe ``engine`` to the node events it reacts to; returns a function that undoes it."""
    undo = [
        bus.subscribe(TxAdmitted, lambda event: engine.on_transactions()),
        bus.subscribe(PeerConnected, lambda event: engine.on_peer_connected()),
        bus.subscribe(SyncProgress, lambda event: engine.on_synced()),
        bus.subscribe(ForkDetected, lambda event: engine.halt()),  # no vote or proposal after a proven fork
    ]

    def disconnect() -> None:
        for unsubscribe in undo:
            unsubscribe()

    return disconnect
