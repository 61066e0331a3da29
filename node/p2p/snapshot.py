"""Snapshot sync: join at a recent certified block by fetching its state tree from peers.

A node far behind (``[sync] mode = "snapshot"``) asks its peers for their head (``snap_head``),
takes the highest offer whose commit certificate carries a quorum of the validators it trusts
(those of its own head's state: genesis for a new node), then fetches the tree under the block's
state root node by node (``snap_get``): every node must hash to the hash its parent names, so a
peer can only send the true tree or be caught. Fetched nodes wait in a staging area; once the
tree is complete, one atomic write batch installs it (``Chain.install_snapshot``) and ordinary
block sync follows from there. Wire format and guarantees: docs/snapshot-sync.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.chain import Chain
from node.errors import ConsortiaError, StoreError
from node.events import SyncProgress
from node.params import MESSAGE_OVERHEAD
from node.statetree.nodes import HASH_SIZE
from node.statetree.snapshot import SnapshotNodeError, check_wire_node, missing_nodes, wire_form
from node.wire.types import Block, CommitCertificate

log = logging.getLogger("consortia.snapshot")

NODES_PER_REQUEST = 1_024  # most node hashes in one snap_get
PIPELINE = 2  # requests outstanding per peer (answers come back in order on a link)
REPLY_BYTES = 4 * 1024 * 1024  # most node bytes in one snap_nodes (less if either side's frame limit is lower)
NODE_FRAMING = 8  # msgpack framing of one node in the list, generously
OFFER_WAIT = 1.5  # seconds to collect offers after asking
DECIDE_WAIT = 2.0  # seconds after start before deciding, to hear several peers' heights
DECIDE_TIMEOUT = 20.0  # with no peer heard by then, give up on a snapshot and sync blocks
REQUEST_TIMEOUT = 10.0
STALL_TIMEOUT = 10.0  # no usable peer for this long: look for a new target
MAX_TARGETS = 5  # rounds of offers before falling back to block sync
TARGET_RECORD = "snapshot.target"  # node-local metadata: the target being fetched (resume after a crash)


class Net(Protocol):
    """What snapshot sync needs from the peer layer (``P2PNetwork`` has it)."""

    links: Any

    def send(self, peer: bytes, message: dict[str, Any]) -> bool: ...

    def broadcast(self, message: dict[str, Any]) -> None: ...


class Blocks(Protocol):
    """What snapshot sync needs from block sync: peer heights, and holding it back."""

    peer_heights: dict[bytes, int]
    paused: bool

    def resume(self) -> None: ...


# --- serving ------------------------------------------------------------------------------


def offer(chain: Chain) -> dict[str, Any]:
    """Our answer to ``snap_head``: our head block and its certificate (height 0: nothing to offer)."""
    height = chain.height
    raw = chain.store.get_block_bytes(height)
    cert = chain.store.get_certificate(height)
    if height == 0 or raw is None or cert is None:
        return {"t": "snap_offer", "height": 0}
    return {"t": "snap_offer", "height": height, "block": raw, "cert": cert.encode()}


def serve_nodes(chain: Chain, msg: dict[str, Any], frame_limit: int, *, holds: Callable[[int], bool]) -> dict[str, Any]:
    """Our answer to ``snap_get``: the wire forms of the nodes asked for, a prefix of the list
    within the byte budget; none if ``root`` is not the state root of a block whose tree we hold."""
    height, root, hashes, max_bytes = msg.get("height"), msg.get("root"), msg.get("hashes"), msg.get("max_bytes")
    if type(height) is not int or height < 1 or type(root) is not bytes or len(root) != HASH_SIZE:
        raise ConsortiaError("malformed snapshot request")
    if type(hashes) is not list or not 0 < len(hashes) <= NODES_PER_REQUEST:
        raise ConsortiaError("malformed snapshot request: 1 to 1024 hashes")
    if any(type(h) is not bytes or len(h) != HASH_SIZE for h in hashes):
        raise ConsortiaError("malformed snapshot request: hashes must be 32 bytes")
    if type(max_bytes) is not int or max_bytes < 0:
        raise ConsortiaError("malformed snapshot request: max_bytes")
    reply: dict[str, Any] = {"t": "snap_nodes", "height": height, "root": root, "nodes": []}
    header = chain.store.get_header(height) if height <= chain.height else None
    if header is None or header.state_root != root or not holds(height):
        return reply
    budget = min(max_bytes, REPLY_BYTES, frame_limit - MESSAGE_OVERHEAD)
    nodes: list[bytes] = []
    size = 0
    for node_hash in hashes:
        stored = chain.store.tree_node(node_hash)
        if stored is None:
            break
        raw = wire_form(stored)
        size += len(raw) + NODE_FRAMING
        if size > budget:
            break
        nodes.append(raw)
    reply["nodes"] = nodes
    return reply


# --- fetching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A certified block whose state is being fetched."""

    block: Block
    block_hash: bytes
    certificate: CommitCertificate

    @property
    def height(self) -> int:
        return self.block.height

    @property
    def root(self) -> bytes:
        return self.block.header.state_root

    def record(self) -> bytes:
        return msgpack.packb([self.block.encode(), self.certificate.encode()])


@dataclass
class Request:
    hashes: list[bytes]
    sent_at: float


@dataclass
class Progress:
    """What the fetch has done so far (logged, and read by tests and the benchmark)."""

    nodes: int = 0
    bytes: int = 0
    refused_nodes: int = 0
    targets: int = 0
    installed_height: int | None = None
    gave_up: str | None = None
    started_at: float = field(default_factory=time.monotonic)


class SnapshotSync:
    """The fetching side. Phases: ``deciding`` (is a snapshot worth it?), ``offers`` (collecting
    peers' heads), ``fetching`` (the tree, node by node), ``done`` (block sync runs)."""

    def __init__(self, chain: Chain, net: Net, blocks: Blocks, *, min_blocks: int,
                 frame_limit: Callable[[], int], clock: Callable[[], float] = time.monotonic,
                 on_installed: Callable[[], None] = lambda: None) -> None:
        self.on_installed = on_installed
        self.chain = chain
        self.net = net
        self.blocks = blocks
        self.min_blocks = min_blocks
        self.frame_limit = frame_limit
        self.clock = clock
        self.phase = "deciding"
        self.progress = Progress(started_at=clock())
        self.target: Target | None = None
        self._started = clock()
        self._offers: dict[bytes, Target] = {}
        self._offers_until = 0.0
        self._rounds = 0  # times offers were asked for
        self._wanted: deque[bytes] = deque()
        self._queued: set[bytes] = set()
        self._inflight: dict[bytes, deque[Request]] = {}  # per peer, oldest first (answers come in order)
        self._cannot_serve: set[bytes] = set()  # peers that said they do not hold the target's tree
        self._hostile: set[bytes] = set()  # peers caught sending a wrong node: never asked again
        self._last_useful = clock()
        self._fresh = False
        self._logged_at = clock()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Hold block sync back until it is decided; resume a target a crash interrupted."""
        self.blocks.paused = True
        resumed = self._load_target()
        if resumed is not None:
            log.info("event=snapshot_resumed height=%d", resumed.height)
            self._begin(resumed)
        self._task = asyncio.create_task(self._ticker(), name="snapshot-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _ticker(self) -> None:
        while self.phase != "done":
            try:
                self.tick()
            except StoreError:
                return  # the store failed: the node is stopping (NodeFailed); nothing to hand over to
            except Exception:  # a bug here must not hold block sync back for good
                log.exception("event=snapshot_failed")
                self._finish("snapshot sync failed", give_up=False)
                return
            await asyncio.sleep(0.2)

    @property
    def active(self) -> bool:
        return self.phase != "done"

    @property
    def queued(self) -> int:
        """Node hashes known to be needed and not yet asked for (or asked for and outstanding)."""
        return len(self._wanted) + sum(len(r.hashes) for q in self._inflight.values() for r in q)

    def tick(self) -> None:
        now = self.clock()
        if self.phase == "deciding":
            self._decide(now)
        elif self.phase == "offers" and now >= self._offers_until:
            self._choose()
        elif self.phase == "fetching":
            self._expire(now)
            self._dispatch()
            if now - self._last_useful > STALL_TIMEOUT:
                log.warning("event=snapshot_stalled height=%d queued=%d", self._target().height, len(self._wanted))
                self._retarget()
            self._log(now)

    # --- choosing a target -------------------------------------------------------------------

    def _linked(self) -> list[bytes]:
        return [p for p in self.net.links if p not in self._hostile]

    def _decide(self, now: float) -> None:
        mine = self.chain.height
        heights = [h for p, h in self.blocks.peer_heights.items() if p in self.net.links]
        if not heights:
            if now - self._started > DECIDE_TIMEOUT:
                self._finish("no peer answered")
            return
        if now - self._started < DECIDE_WAIT:
            return
        if max(heights) - mine < self.min_blocks:
            self._finish(f"the best peer is {max(heights) - mine} blocks ahead, under snapshot_min_blocks {self.min_blocks}")
            return
        self._ask_offers(now)

    def _ask_offers(self, now: float) -> None:
        self.phase = "offers"
        self._rounds += 1
        self._offers.clear()
        self._offers_until = now + OFFER_WAIT
        for peer in self._linked():
            self.net.send(peer, {"t": "snap_head"})

    def on_offer(self, peer: bytes, msg: dict[str, Any]) -> None:
        height = msg.get("height")
        if type(height) is not int or height < 0:
            raise ConsortiaError("malformed snapshot offer")
        if height == 0 or self.phase != "offers" or peer in self._hostile:
            return
        block_raw, cert_raw = msg.get("block"), msg.get("cert")
        if type(block_raw) is not bytes or type(cert_raw) is not bytes:
            raise ConsortiaError("malformed snapshot offer")
        try:
            target = self._verified(Block.decode(block_raw), CommitCertificate.decode(cert_raw))
        except ConsortiaError as exc:
            self._hostile.add(peer)
            log.warning("event=snapshot_offer_refused peer=%s reason=%r", peer.hex()[:16], exc.message)
            return
        if target.height != height:
            raise ConsortiaError("snapshot offer height does not match its block")
        self._offers[peer] = target

    def _verified(self, block: Block, cert: CommitCertificate) -> Target:
        """The offer as a target, once its certificate holds under our validator set (the set of
        our head's state; see docs/snapshot-sync.md for why that is the rule)."""
        chain = self.chain
        if block.header.chain_id != chain.chain_id:
            raise ConsortiaError("snapshot block is for another chain")
        if block.height <= chain.height:
            raise ConsortiaError(f"snapshot block {block.height} is not above our head {chain.height}")
        block_hash = chain.suite.hash(block.header.encode())
        validators = chain.validators()
        verify_certificate(chain.suite, cert, chain_id=chain.chain_id, height=block.height, block_hash=block_hash,
                           validators=validators, quorum=certificate_quorum(chain.genesis.consensus, len(validators)))
        return Target(block, block_hash, cert)

    def _choose(self) -> None:
        if not self._offers:
            self._retarget("no peer offered a snapshot")
            return
        best = max(self._offers.values(), key=lambda t: t.height)
        if best.height - self.chain.height < self.min_blocks and self.target is None:
            self._finish(f"the best offer is {best.height - self.chain.height} blocks ahead, under snapshot_min_blocks")
            return
        self.chain.store.meta_put(TARGET_RECORD, best.record())
        self._begin(best)

    def _begin(self, target: Target) -> None:
        """Fetch ``target``'s tree: what is already here (staged, or committed nodes it shares
        with our own state) is not fetched again."""
        self.target = target
        self.progress.targets += 1
        self.phase = "fetching"
        self._cannot_serve.clear()
        self._inflight.clear()
        self._wanted.clear()
        self._queued.clear()
        self._last_useful = self.clock()
        self._fresh = not self.chain.store.has_staged()  # then every staged node is one this attempt queued
        self._want(missing_nodes(target.root, self._present, limit=1 << 62))
        log.info("event=snapshot_target height=%d root=%s queued=%d", target.height, target.root.hex()[:16], len(self._wanted))
        self._dispatch()

    def _load_target(self) -> Target | None:
        raw = self.chain.store.meta_get(TARGET_RECORD)
        if not raw:
            return None
        try:
            block_raw, cert_raw = msgpack.unpackb(raw)
            return self._verified(Block.decode(block_raw), CommitCertificate.decode(cert_raw))
        except (ConsortiaError, ValueError, TypeError) as exc:  # e.g. the node replayed past it meanwhile
            log.warning("event=snapshot_record_dropped reason=%r", getattr(exc, "message", str(exc)))
            self.chain.store.clear_staged()
            self.chain.store.meta_put(TARGET_RECORD, b"")
            return None

    def _retarget(self, reason: str = "no peer can serve the target") -> None:
        if self._rounds >= MAX_TARGETS:
            self._finish(f"gave up after {self._rounds} rounds of offers: {reason}", give_up=True)
            return
        self._ask_offers(self.clock())

    # --- fetching ----------------------------------------------------------------------------

    def _target(self) -> Target:
        assert self.target is not None
        return self.target

    def _present(self, node_hash: bytes) -> bytes | None:
        return self.chain.tree.get(node_hash) or self.chain.store.staged_node(node_hash)

    def _have(self, node_hash: bytes) -> bool:
        """``_present``, without the staging lookup when nothing was staged before this attempt."""
        if self.chain.tree.get(node_hash) is not None:
            return True
        return not self._fresh and self.chain.store.staged_node(node_hash) is not None

    def _want(self, hashes: list[bytes] | tuple[bytes, ...]) -> None:
        for h in hashes:
            if h not in self._queued:
                self._queued.add(h)
                self._wanted.append(h)

    def _dispatch(self) -> None:
        target = self._target()
        if not self._wanted and not any(self._inflight.values()):
            self._install()
            return
        max_bytes = min(REPLY_BYTES, self.frame_limit() - MESSAGE_OVERHEAD)
        for _ in range(PIPELINE):  # round-robin: one more request per peer each pass
            for peer in self._linked():
                if not self._wanted:
                    return
                queue = self._inflight.setdefault(peer, deque())
                if len(queue) >= PIPELINE or peer in self._cannot_serve or not self._may_hold(peer, target.height):
                    continue
                batch = [self._wanted.popleft() for _ in range(min(NODES_PER_REQUEST, len(self._wanted)))]
                msg = {"t": "snap_get", "height": target.height, "root": target.root, "hashes": batch, "max_bytes": max_bytes}
                if self.net.send(peer, msg):
                    queue.append(Request(batch, self.clock()))
                else:
                    self._wanted.extendleft(reversed(batch))

    def _may_hold(self, peer: bytes, height: int) -> bool:
        """Whether ``peer`` is at or above ``height`` (it answers with no nodes if it pruned them)."""
        offered = self._offers.get(peer)
        return (offered is not None and offered.height >= height) or self.blocks.peer_heights.get(peer, 0) >= height

    def _expire(self, now: float) -> None:
        for peer, queue in list(self._inflight.items()):
            if queue and (now - queue[0].sent_at > REQUEST_TIMEOUT or peer not in self.net.links):
                self._drop_requests(peer)
                self._cannot_serve.add(peer)

    def _drop_requests(self, peer: bytes) -> None:
        """Everything outstanding at ``peer`` goes back to the front of the queue."""
        for req in reversed(self._inflight.pop(peer, deque())):
            self._wanted.extendleft(reversed(req.hashes))

    def on_nodes(self, peer: bytes, msg: dict[str, Any]) -> None:
        nodes = msg.get("nodes")
        if type(nodes) is not list or any(type(n) is not bytes for n in nodes):
            raise ConsortiaError("malformed snapshot nodes")
        queue = self._inflight.get(peer)
        target = self.target
        if self.phase != "fetching" or not queue or target is None:
            return  # late, or never asked for
        if msg.get("height") != target.height or msg.get("root") != target.root:
            return  # an answer for an earlier target
        req = queue.popleft()
        if len(nodes) > len(req.hashes):
            self._hostile.add(peer)
            self._wanted.extendleft(reversed(req.hashes))
            self._drop_requests(peer)
            log.warning("event=snapshot_nodes_refused peer=%s reason='more nodes than asked for'", peer.hex()[:16])
            self._dispatch()
            return
        if not nodes:
            self._cannot_serve.add(peer)
            self._drop_requests(peer)
        good: dict[bytes, bytes] = {}
        children: list[bytes] = []
        for expected, raw in zip(req.hashes, nodes):
            try:
                children.extend(check_wire_node(self.chain.suite.hash, expected, raw))
            except SnapshotNodeError as exc:
                self._hostile.add(peer)
                self._drop_requests(peer)
                self.progress.refused_nodes += 1
                log.warning("event=snapshot_node_refused peer=%s node=%s reason=%r", peer.hex()[:16], expected.hex()[:16], str(exc))
                break
            good[expected] = raw
            self.progress.bytes += len(raw)
        self._wanted.extendleft(reversed(req.hashes[len(good):]))  # what it did not send goes first to another peer
        if good:
            self.chain.store.stage_nodes(good)
            self.progress.nodes += len(good)
            self._last_useful = self.clock()
            self._want([c for c in children if c not in self._queued and not self._have(c)])
        self._dispatch()

    # --- installing --------------------------------------------------------------------------

    def _install(self) -> None:
        target = self._target()
        contents = self.chain.snapshot_contents(target.root)
        if contents.missing:  # e.g. staged nodes lost in a crash after they were counted
            self._want(contents.missing)
            return
        try:
            self.chain.install_snapshot(target.block, target.certificate, contents, record=TARGET_RECORD)
        except ConsortiaError as exc:
            self._finish(f"snapshot refused: {exc.message}", give_up=True)
            return
        self.progress.installed_height = target.height
        elapsed = self.clock() - self.progress.started_at
        log.info("event=snapshot_done height=%d nodes_fetched=%d bytes=%d keys=%d seconds=%.1f", target.height,
                 self.progress.nodes, self.progress.bytes, len(contents.state), elapsed)
        heights = self.blocks.peer_heights.values()
        self.chain.bus.publish(SyncProgress(1, self.chain.height, max([self.chain.height, *heights])))
        self._finish("installed")
        self.on_installed()

    def _finish(self, reason: str, *, give_up: bool = False) -> None:
        """Hand over to block sync. Giving up drops the staged nodes and the target record."""
        if give_up:
            self.progress.gave_up = reason
            self.chain.store.clear_staged()
            self.chain.store.meta_put(TARGET_RECORD, b"")
            log.warning("event=snapshot_gave_up reason=%r", reason)
        else:
            log.info("event=snapshot_finished reason=%r", reason)
        self.phase = "done"
        self._inflight.clear()
        self.blocks.resume()

    def _log(self, now: float) -> None:
        if now - self._logged_at >= 5.0:
            self._logged_at = now
            log.info("event=snapshot_progress height=%d nodes=%d bytes=%d queued=%d inflight=%d", self._target().height,
                     self.progress.nodes, self.progress.bytes, len(self._wanted), sum(map(len, self._inflight.values())))


__all__ = ["SnapshotSync", "Target", "offer", "serve_nodes"]
