"""Running one node process: load the home directory, open the store, start consensus and RPC."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus.api import ConsensusEngine
from node.chain import Chain
from node.config import DATA_DIR, GENESIS_FILE, KEY_FILE, NodeConfig, check_against_chain, load_key
from node.consensus_engine import build_engine
from node.crypto.base import KeyPair
from node.errors import ConfigError, StoreError
from node.events import BlockCommitted, NodeFailed, NodeListChanged
from node.fdlimit import LimitChange, raise_soft_limit
from node.genesis import Genesis
from node.keyfile import PassphraseSource, check_private, default_passphrase
from node.logsetup import setup_logging
from node.metrics import NodeMetrics
from node.metrics.storestats import StoreStatsCollector
from node.metrics.traffic import PeerTrafficCollector
from node.p2p.certs import NODE_KEY, TLS_DIR
from node.p2p.service import NetworkService
from node.p2p.tlskey import open_tls_key
from node.p2p.transport import PeerLimits
from node.pooljournal import JOURNAL_FILE, PoolJournal
from node.preflight import check_home, remembered
from node.ratelog import RateLimitedLog
from node.rpc.access import AccessPolicy, load_or_make_token
from node.rpc.connections import RpcLimits
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.ratelimit import RateLimiter
from node.rpc.server import RpcServer
from node.sigverify import BatchVerifier
from node.store.chainstore import ChainStore
from node.txpool import PoolLimits

log = logging.getLogger("consortia.node")


def tls_key_file(home: Path) -> Path:
    return home / TLS_DIR / NODE_KEY


@dataclass
class NodeParts:
    config: NodeConfig
    genesis: Genesis
    key: KeyPair
    store: ChainStore
    chain: Chain


def open_node(home: Path, passphrase: PassphraseSource | None = None) -> NodeParts:
    """Load and cross-check everything in a node home; raise ConfigError/StoreError if anything is off."""
    config = NodeConfig.load(home)
    if tls_key_file(home).exists():  # (a missing one is reported when the peer layer loads it)
        check_private(tls_key_file(home), "TLS key file")
    genesis = Genesis.load(home / GENESIS_FILE)
    key = load_key(home / KEY_FILE, passphrase)  # refuses a node.key others may read, too
    if tls_key_file(home).exists():  # an encrypted one opens now, with the home's passphrase; the peer layer reuses it
        open_tls_key(tls_key_file(home), home, passphrase)
    if key.suite != genesis.suite:
        raise ConfigError(f"node key is a '{key.suite}' key but the chain uses the '{genesis.suite}' suite")
    me = next((n for n in genesis.nodes if n.pubkey == key.public_bytes), None)
    if me is not None and me.role != config.role:
        raise ConfigError(f"config says role '{config.role}' but genesis lists this node as '{me.role}'")
    # A node that is not in genesis was added later ('consortia net add-node'): it starts, dials
    # the nodes it knows from genesis and is refused until governance admits it to the node list.
    store = ChainStore(home / DATA_DIR, create=True, state_history=config.state_history())
    try:
        chain = Chain(genesis, store, wasm_cache_dir=home / "wasm-cache", pool_limits=PoolLimits(capacity=config.pool.capacity, per_sender=config.pool.per_sender))
        check_against_chain(config, chain.params())
    except Exception:
        store.close()
        raise
    return NodeParts(config=config, genesis=genesis, key=key, store=store, chain=chain)


def peer_limits(config: NodeConfig) -> PeerLimits:
    p2p = config.p2p
    return PeerLimits(handshake_timeout=p2p.handshake_timeout, max_pending=p2p.max_pending, max_pending_per_ip=p2p.max_pending_per_ip,
                      fd_reserve=config.limits.fd_reserve, keepalive_interval=p2p.keepalive_interval, idle_timeout=p2p.idle_timeout,
                      log_interval=config.limits.log_interval)


def rpc_limits(config: NodeConfig) -> RpcLimits:
    rpc = config.rpc
    return RpcLimits(max_connections=rpc.max_connections, max_pending=rpc.max_pending, max_pending_per_ip=rpc.max_pending_per_ip,
                     handshake_timeout=rpc.handshake_timeout, fd_reserve=config.limits.fd_reserve // 2,
                     log_interval=config.limits.log_interval)
def access_policy(config: NodeConfig, home: Path) -> AccessPolicy:
    """Admin callers and the public rate limit, from ``[rpc]`` and the home's admin token."""
    rpc = config.rpc
    limiter = RateLimiter(rpc.rate_limit_per_s, rpc.rate_burst) if rpc.rate_limit_per_s > 0 else None
    return AccessPolicy(admin_from_localhost=rpc.admin_from_localhost, token=load_or_make_token(home), limiter=limiter)


def config_watch(parts: NodeParts) -> Callable[[BlockCommitted], None]:
    """After a committed parameter change, say once if this node's local settings now contradict
    the chain (a node only refuses to start on it; a running one keeps serving and logs)."""
    reported: set[str] = set()

    def check(event: BlockCommitted) -> None:
        if not any(e.name == "ParamChanged" for r in event.receipts for e in r.events):
            return
        try:
            check_against_chain(parts.config, parts.chain.params())
        except ConfigError as exc:
            if exc.message not in reported:
                reported.add(exc.message)
                log.error("event=config_contradicts_chain height=%d reason=%r", event.block.height, exc.message)

    return check


def make_network(parts: NodeParts, home: Path) -> tuple[NetworkService, ConsensusEngine]:
    """Peer networking and the genesis-chosen consensus engine, on every node: the engine takes
    part only while the committed node list names this node a validator (it reads the set at
    every height), so an observer promoted by governance starts voting at the height the
    promotion takes effect, and a demoted validator stops, without a restart."""
    network = NetworkService(parts.chain, parts.key, home, parts.config.p2p.host, parts.config.p2p.port,
                             limits=peer_limits(parts.config), sync=parts.config.sync)
    engine = build_engine(parts.chain, parts.key, send=network.send_consensus, request_sync=network.sync.request,
                          offer_blocks=network.sync.offer)
    network.attach_engine(engine)
    return network, engine


@dataclass(frozen=True)
class EngineWhileValidator:
    """``node_info``'s engine summary: the engine's own while this node is a validator at the
    head, an observer's (blocks caught up by sync) while it is not."""

    engine: ConsensusEngine
    chain: Chain
    pubkey: bytes
    metrics: NodeMetrics

    def status(self) -> dict[str, Any]:
        if self.pubkey in self.chain.validators():
            return self.engine.status()
        return {"engine": "observer", "synced_blocks": self.metrics.blocks_synced}


def watch_network(metrics: NodeMetrics, network: NetworkService) -> None:
    """The peer layer's own tallies in /metrics, read at each scrape (counted once, there)."""
    metrics.add_collector(PeerTrafficCollector(lambda: network.net.traffic))
    metrics.watch("consortia_sync_target_height", "The highest height a peer announced, or this node's if none is ahead.",
                  network.sync.target_height)
    metrics.watch("consortia_sync_rejected_batches_total", "Block batches from peers that failed verification.",
                  lambda: network.sync.rejected_batches, kind="counter")


def listed_role(chain: Chain, pubkey: bytes) -> str:
    """This node's role in the committed node list; "unlisted" before admission and after removal."""
    return next((n.role for n in chain.nodes() if n.pubkey == pubkey), "unlisted")


def follow_role(chain: Chain, identity: NodeIdentity, height: int) -> None:
    """A block changed the node list: report our new role (``node_info``) and say so in the log."""
    role = listed_role(chain, identity.pubkey)
    if role != identity.role:
        log.info("event=node_role_changed height=%d from=%s to=%s effective_height=%d", height, identity.role, role, height + 1)
        identity.role = role


NetworkFactory = Callable[[NodeParts, Path], tuple[NetworkService, ConsensusEngine]]


async def serve(parts: NodeParts, stop: asyncio.Event, home: Path, network_factory: NetworkFactory = make_network) -> None:
    """Run the node until ``stop`` is set. ``network_factory`` builds its peer network and engine:
    always ``make_network`` for a real node; test harnesses (``node.testing.byzantine``) pass
    their own from Python, so no configuration can change it."""
    network, engine = network_factory(parts, home)
    identity = NodeIdentity(name=parts.config.name, role=listed_role(parts.chain, parts.key.public_bytes), pubkey=parts.key.public_bytes)
    parts.chain.bus.subscribe(NodeListChanged, lambda event: follow_role(parts.chain, identity, event.height))
    metrics = NodeMetrics(parts.chain.bus, p2p=True)  # before anything starts, so every event is counted
    watch_network(metrics, network)
    metrics.add_collector(StoreStatsCollector(parts.chain.store.level_stats))
    status = EngineWhileValidator(engine, parts.chain, parts.key.public_bytes, metrics)
    rpc = RpcServer(
        RpcEnv.for_chain(parts.chain, identity, metrics, engine=status, peers=network.peers, sync=network.sync_status,
                         access=access_policy(parts.config, home), network_height=network.network_height,
                         fork=network.forks.summary),
        host=parts.config.rpc.host,
        port=parts.config.rpc.port,
        max_body_bytes=parts.config.rpc.max_body_bytes,
        max_batch=parts.config.rpc.max_batch,
        max_ws_subscriptions=parts.config.rpc.max_ws_subscriptions,
        cors_origins=parts.config.rpc.cors_origins,
        limits=rpc_limits(parts.config),
    )
    failures: list[NodeFailed] = []

    def on_failed(event: NodeFailed) -> None:
        """Stop taking part at once: no more votes or synced blocks on a store that failed."""
        if not failures:
            failures.append(event)
            log.error("event=node_failed component=%s reason=%r", event.component, event.reason)
            stop.set()

    parts.chain.bus.subscribe(NodeFailed, on_failed)
    parts.chain.bus.subscribe(BlockCommitted, config_watch(parts))
    workers = parts.config.pool.verify_workers
    verifier = BatchVerifier(parts.genesis.suite, workers=None if workers < 0 else workers)
    verifier.start()
    parts.chain.verifier = verifier
    if parts.config.pool.journal:  # before clients or peers can reach the pool
        parts.chain.attach_journal(PoolJournal(home / JOURNAL_FILE))
    await rpc.start()
    await network.start()
    # Evidence of a fork in the database (node.forkwatch): serve reads, take no part until an
    # operator clears it (consortia node clear-fork).
    network.forks.restore()
    if not network.forks.halted:
        await engine.start()
    log.info(
        "event=node_started name=%s role=%s chain_id=%s height=%d rpc=http://%s:%d p2p=%s:%d",
        parts.config.name,
        identity.role,
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
        await engine.stop()
        await network.stop()
        await rpc.stop()
        verifier.close()
        if parts.chain.journal is not None:
            parts.chain.journal.close()
        log.info("event=node_stopped height=%d", parts.chain.height)
    if failures:
        raise StoreError(f"the node stopped: {failures[0].reason}")


def report_open_files(change: LimitChange) -> None:
    level = logging.WARNING if change.short_of_wanted else logging.INFO
    log.log(level, "event=open_files soft=%d hard=%d raised_from=%d wanted=%d%s", change.soft, change.hard, change.before,
            change.wanted, " note='the hard limit allows no more: raise it (ulimit -Hn, LimitNOFILE=)'" if change.short_of_wanted else "")


def loop_error_logger(interval: float) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """asyncio's unhandled errors (a failed accept, a transport error) as one line per kind per
    interval with a count, never a traceback per socket."""
    ratelog = RateLimitedLog(logging.getLogger("consortia.asyncio"), interval=interval)
    flush_pending: list[asyncio.TimerHandle] = []

    def flush() -> None:
        flush_pending.clear()
        ratelog.flush()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", "unhandled error"))
        error = f"{exc.__class__.__name__}: {exc}" if exc is not None else ""
        ratelog.flush()
        ratelog.log(logging.ERROR, (message, exc.__class__.__name__), f"event=loop_error message={message!r} error={error!r}")
        if not flush_pending:  # so the count of the last burst is written too
            flush_pending.append(loop.call_later(interval * 1.05, flush))

    return handle


def run_node(home: Path, passphrase: PassphraseSource | None = None, network_factory: NetworkFactory = make_network) -> None:
    """Run a node in the foreground until SIGINT/SIGTERM (``passphrase``: for an encrypted node key)."""
    home = Path(home)
    passphrase = remembered(passphrase or default_passphrase)
    found = check_home(home, passphrase, starting=True)
    if found.errors:
        raise ConfigError("\n".join(found.errors))  # every problem, one line each, before anything starts
    parts = open_node(home, passphrase)
    setup_logging(parts.config.log.settings(home))
    report_open_files(raise_soft_limit(parts.config.limits.open_files))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(loop_error_logger(parts.config.limits.log_interval))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(parts, stop, home, network_factory)

    try:
        asyncio.run(main())
    finally:
        parts.store.close()
