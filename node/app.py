"""Running one node process: load the home directory, open the store, start consensus and RPC."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consensus.api import ConsensusEngine
from node.chain import Chain
from node.config import DATA_DIR, GENESIS_FILE, KEY_FILE, NodeConfig, load_key
from node.consensus_engine import build_engine
from node.crypto.base import KeyPair
from node.errors import ConfigError, StoreError
from node.events import NodeFailed
from node.genesis import Genesis
from node.metrics import NodeMetrics
from node.p2p.service import NetworkService
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.server import RpcServer
from node.sigverify import BatchVerifier
from node.store.chainstore import ChainStore
from node.txpool import PoolLimits

log = logging.getLogger("consortia.node")


def setup_logging(level: str = "info") -> None:
    """One event per line, key=value fields, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@dataclass
class NodeParts:
    config: NodeConfig
    genesis: Genesis
    key: KeyPair
    store: ChainStore
    chain: Chain


def open_node(home: Path) -> NodeParts:
    """Load and cross-check everything in a node home; raise ConfigError/StoreError if anything is off."""
    config = NodeConfig.load(home)
    genesis = Genesis.load(home / GENESIS_FILE)
    key = load_key(home / KEY_FILE)
    if key.suite != genesis.suite:
        raise ConfigError(f"node key is a '{key.suite}' key but the chain uses the '{genesis.suite}' suite")
    me = next((n for n in genesis.nodes if n.pubkey == key.public_bytes), None)
    if me is None:
        raise ConfigError("this node's key is not listed in genesis (wrong home or wrong key?)")
    if me.role != config.role:
        raise ConfigError(f"config says role '{config.role}' but genesis lists this node as '{me.role}'")
    store = ChainStore(home / DATA_DIR, create=True)
    try:
        chain = Chain(genesis, store, wasm_cache_dir=home / "wasm-cache", pool_limits=PoolLimits(capacity=config.pool.capacity, per_sender=config.pool.per_sender))
    except Exception:
        store.close()
        raise
    return NodeParts(config=config, genesis=genesis, key=key, store=store, chain=chain)


def make_network(parts: NodeParts, home: Path) -> tuple[NetworkService, ConsensusEngine | None]:
    """Peer networking for every node, and the genesis-chosen consensus engine for validators."""
    network = NetworkService(parts.chain, parts.key, home, parts.config.p2p.host, parts.config.p2p.port)
    if parts.config.role != "validator":
        return network, None
    engine = build_engine(parts.chain, parts.key, send=network.send_consensus, request_sync=network.sync.request,
                          offer_blocks=network.sync.offer)
    network.attach_engine(engine)
    return network, engine


NetworkFactory = Callable[[NodeParts, Path], tuple[NetworkService, ConsensusEngine | None]]


async def serve(parts: NodeParts, stop: asyncio.Event, home: Path, network_factory: NetworkFactory = make_network) -> None:
    """Run the node until ``stop`` is set. ``network_factory`` builds its peer network and engine:
    always ``make_network`` for a real node; test harnesses (``node.testing.byzantine``) pass
    their own from Python, so no configuration can change it."""
    network, engine = network_factory(parts, home)
    identity = NodeIdentity(name=parts.config.name, role=parts.config.role, pubkey=parts.key.public_bytes)
    metrics = NodeMetrics(parts.chain.bus, p2p=True)  # before anything starts, so every event is counted
    rpc = RpcServer(
        RpcEnv.for_chain(parts.chain, identity, metrics, engine=engine, peers=network.peers,
                         network_height=network.network_height),
        host=parts.config.rpc.host,
        port=parts.config.rpc.port,
        max_body_bytes=parts.config.rpc.max_body_bytes,
        max_batch=parts.config.rpc.max_batch,
        max_ws_subscriptions=parts.config.rpc.max_ws_subscriptions,
        cors_origins=parts.config.rpc.cors_origins,
    )
    failures: list[NodeFailed] = []

    def on_failed(event: NodeFailed) -> None:
        """Stop taking part at once: no more votes or synced blocks on a store that failed."""
        if not failures:
            failures.append(event)
            log.error("event=node_failed component=%s reason=%r", event.component, event.reason)
            stop.set()

    parts.chain.bus.subscribe(NodeFailed, on_failed)
    workers = parts.config.pool.verify_workers
    verifier = BatchVerifier(parts.genesis.suite, workers=None if workers < 0 else workers)
    verifier.start()
    parts.chain.verifier = verifier
    await rpc.start()
    await network.start()
    if engine is not None:
        await engine.start()
    log.info(
        "event=node_started name=%s role=%s chain_id=%s height=%d rpc=http://%s:%d p2p=%s:%d",
        parts.config.name,
        parts.config.role,
        parts.chain.chain_id,
        parts.chain.height,
        parts.config.rpc.host,
        rpc.port,
        parts.config.p2p.host,
        parts.config.p2p.port,
    )
    try:
        await stop.wait()
    finally:
        if engine is not None:
            await engine.stop()
        await network.stop()
        await rpc.stop()
        verifier.close()
        log.info("event=node_stopped height=%d", parts.chain.height)
    if failures:
        raise StoreError(f"the node stopped: {failures[0].reason}")


def run_node(home: Path, network_factory: NetworkFactory = make_network) -> None:
    """Run a node in the foreground until SIGINT/SIGTERM."""
    home = Path(home)
    if not home.is_dir():
        raise ConfigError(f"node home {home} does not exist")
    parts = open_node(home)
    setup_logging(parts.config.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(parts, stop, home, network_factory)

    try:
        asyncio.run(main())
    finally:
        parts.store.close()
