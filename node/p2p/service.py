"""Routes peer messages to consensus, the pool and block sync; forwards client transactions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgpack

from consensus.api import ConsensusEngine
from consensus.registry import certificate_quorum
from node.chain import Chain
from node.config import SyncConfig
from node.crypto.base import KeyPair
from node.errors import ConsortiaError, DuplicateTransaction
from node.events import BlockCommitted, NodeListChanged, PeerConnected, TxAdmitted
from node.forkwatch import ForkWatch
from node.p2p.backfill import NonceBackfill
from node.p2p.snapshot import SnapshotSync, offer, serve_nodes
from node.p2p.sync import BlockSync
from node.p2p.transport import P2PNetwork, PeerAddress, PeerLimits
from node.params import largest_frame_bytes

log = logging.getLogger("consortia.p2p")

MAX_FORWARD_BATCH = 512
REGOSSIP_INTERVAL = 2.0
REGOSSIP_LIMIT = 4_096
SEEN_LIMIT = 200_000


class NetworkService:
    def __init__(self, chain: Chain, key: KeyPair, home: Path, host: str, port: int, limits: PeerLimits | None = None,
                 sync: SyncConfig | None = None) -> None:
        self.chain = chain
        self.key = key
        self.engine: ConsensusEngine | None = None  # the consensus engine on validators; observers have none
        self._frame_limit: tuple[int, int] | None = None  # (height, bytes)
        self.net = P2PNetwork(
            home=home,
            my_pubkey=key.public_bytes,
            host=host,
            port=port,
            chain_id=chain.chain_id,
            genesis_hash=chain.genesis_hash,
            directory=self.directory,
            on_message=self.on_message,
            bus=chain.bus,
            max_frame_bytes=self.frame_limit,
            limits=limits,
        )
        self.forks = ForkWatch(chain, lambda n: certificate_quorum(chain.genesis.consensus, n))
        self.sync = BlockSync(chain, self.net, self.forks)
        sync = sync or SyncConfig()
        self.snapshot: SnapshotSync | None = None  # fetching side, in snapshot mode only
        self.backfill = NonceBackfill(chain, self.net, self.sync)  # only ever active after a snapshot
        if sync.mode == "snapshot":
            self.snapshot = SnapshotSync(chain, self.net, self.sync, min_blocks=sync.snapshot_min_blocks,
                                         frame_limit=self.frame_limit, on_installed=self._start_backfill)
        self._forward: list[bytes] = []
        self._seen: OrderedDict[bytes, None] = OrderedDict()  # sha256 of raw forwarded txs handled
        self._flush_scheduled = False
        self.tx_received = 0
        self._regossip_task: asyncio.Task[None] | None = None
        chain.bus.subscribe(BlockCommitted, self._on_commit)
        chain.bus.subscribe(TxAdmitted, self._on_tx_admitted)
        chain.bus.subscribe(PeerConnected, self._on_connect)
        chain.bus.subscribe(NodeListChanged, lambda event: self.net.follow_node_list())

    def directory(self) -> list[PeerAddress]:
        return [
            PeerAddress(pubkey=n.pubkey, name=n.name, role=n.role, host=n.host, port=n.p2p_port)
            for n in self.chain.nodes()
            if n.role in ("validator", "observer")
        ]

    async def start(self) -> None:
        await self.net.start()
        if self.snapshot is not None:
            self.snapshot.start()
        self._start_backfill()
        await self.sync.start()
        self._regossip_task = asyncio.create_task(self._regossip(), name="tx-regossip")

    async def stop(self) -> None:
        if self._regossip_task is not None:
            self._regossip_task.cancel()
        if self.snapshot is not None:
            await self.snapshot.stop()
        await self.backfill.stop()
        await self.sync.stop()
        await self.net.stop()

    def attach_engine(self, engine: ConsensusEngine) -> None:
        """Route consensus frames from validators to ``engine`` (validators only)."""
        self.engine = engine

    def _start_backfill(self) -> None:
        """Read the nonces of the blocks below an installed snapshot, if that is unfinished."""
        if not self.backfill.active and self.backfill.resume():
            self.backfill.start()

    def _on_connect(self, event: PeerConnected) -> None:
        self.net.send(event.pubkey, self.sync.status_message())
        # A peer that was away missed our forwards: hand it everything still pending.
        self._send_pending([event.pubkey])

    def frame_limit(self) -> int:
        """The largest frame honest peers send under the chain's current parameters (cached per height)."""
        height = self.chain.height
        if self._frame_limit is None or self._frame_limit[0] != height:
            self._frame_limit = (height, largest_frame_bytes(self.chain.params(), len(self.chain.validators())))
        return self._frame_limit[1]

    def _batches(self, txs: list[bytes]) -> list[list[bytes]]:
        """Forwarded transactions in batches of at most MAX_FORWARD_BATCH and one block's worth of bytes."""
        budget = self.chain.params().max_block_bytes
        out: list[list[bytes]] = []
        batch: list[bytes] = []
        size = 0
        for raw in txs:
            if batch and (len(batch) >= MAX_FORWARD_BATCH or size + len(raw) > budget):
                out.append(batch)
                batch, size = [], 0
            batch.append(raw)
            size += len(raw)
        if batch:
            out.append(batch)
        return out

    def _send_pending(self, peers: list[bytes], older_than_ms: int = 0, local_only: bool = False) -> int:
        pending = self.chain.pool.pending_raw(older_than_ms=older_than_ms, limit=REGOSSIP_LIMIT, local_only=local_only)
        for batch in self._batches(pending):
            for peer in peers:
                self.net.send(peer, {"t": "txs", "txs": batch})
        return len(pending)

    async def _regossip(self) -> None:
        """Forwarding is best effort (a link may be down or a queue full): transactions still
        pending after a while are sent again, so every validator eventually sees them."""
        while True:
            await asyncio.sleep(REGOSSIP_INTERVAL)
            validators = [p for p, link in self.net.links.items() if link.role == "validator"]
            if validators:
                # Only our own clients' transactions: every origin re-sends its own, so nothing is
                # re-sent n times over.
                self._send_pending(validators, older_than_ms=int(REGOSSIP_INTERVAL * 1000), local_only=True)

    # --- outgoing --------------------------------------------------------------------------

    def send_consensus(self, data: bytes) -> None:
        self.net.broadcast({"t": "cons", "m": data}, roles=("validator",))

    def _on_tx_admitted(self, event: TxAdmitted) -> None:
        if event.local:
            self.forward_tx(event.raw)

    def forward_tx(self, raw: bytes) -> None:
        """Client transactions reach every validator, so whichever is primary can include them."""
        self._forward.append(raw)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.005, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        waiting, self._forward = self._forward, []
        for batch in self._batches(waiting):
            self.net.broadcast({"t": "txs", "txs": batch}, roles=("validator",))

    def _on_commit(self, committed: BlockCommitted) -> None:
        self.sync.announce()

    # --- incoming --------------------------------------------------------------------------

    def on_message(self, peer: bytes, msg: dict[str, Any]) -> None:
        kind = msg["t"]
        if kind == "cons":
            data = msg.get("m")
            if type(data) is not bytes:
                raise ConsortiaError("malformed consensus frame")
            if self.engine is not None:
                self.engine.on_network_message(data)
        elif kind == "txs":
            txs = msg.get("txs")
            if type(txs) is not list or len(txs) > MAX_FORWARD_BATCH or any(type(t) is not bytes for t in txs):
                raise ConsortiaError("malformed transaction batch")
            fresh = []
            for raw in txs:
                digest = hashlib.sha256(raw).digest()
                if digest not in self._seen:  # else already admitted (or committed) here: skip decoding it again
                    fresh.append((raw, digest))
            if not fresh:
                return
            verifier = self.chain.verifier
            if verifier is not None and verifier.offloads:
                asyncio.create_task(self._admit_forwarded(fresh))
            else:
                # Verified on this thread either way: one pass, without a task per transaction.
                self._admitted([self._try_admit(raw) for raw, _ in fresh], fresh)
        elif kind == "status":
            self.sync.on_status(peer, msg)
        elif kind == "getblocks":
            self.sync.serve(peer, msg)
        elif kind == "blocks":
            if "id" in msg:  # an answer to a tagged request: the backfill's, never block sync's
                self.backfill.on_blocks(peer, msg)
            else:
                self.sync.on_blocks(peer, msg)
        elif kind == "snap_head":
            self.net.send(peer, offer(self.chain))
        elif kind == "snap_get":
            self.net.send(peer, serve_nodes(self.chain, msg, self.frame_limit(), holds=self.chain.holds_tree))
        elif kind in ("snap_offer", "snap_nodes"):
            if self.snapshot is not None and not self.forks.halted:  # a halted node installs no snapshot either
                (self.snapshot.on_offer if kind == "snap_offer" else self.snapshot.on_nodes)(peer, msg)
        else:
            raise ConsortiaError(f"unknown message type {kind!r}")

    def _try_admit(self, raw: bytes) -> BaseException | None:
        try:
            self.chain.submit(raw, forward=False)
            return None
        except ConsortiaError as exc:
            return exc

    async def _admit_forwarded(self, fresh: list[tuple[bytes, bytes]]) -> None:
        """Admit a forwarded batch with its signatures checked together by the verifier's workers."""
        results = await asyncio.gather(*(self.chain.submit_async(raw, forward=False) for raw, _ in fresh), return_exceptions=True)
        self._admitted([r if isinstance(r, BaseException) else None for r in results], fresh)

    def _admitted(self, results: list[BaseException | None], fresh: list[tuple[bytes, bytes]]) -> None:
        added = 0
        for outcome, (_, digest) in zip(results, fresh):
            if outcome is None:
                added += 1
                self._remember(digest)
            elif isinstance(outcome, DuplicateTransaction):
                self._remember(digest)  # normal: every validator hears every transaction
            # Anything else (invalid, or the pool is full): a later re-send may succeed.
        self.tx_received += added  # each admission was published as TxAdmitted: the engine hears of it there

    def _remember(self, digest: bytes) -> None:
        self._seen[digest] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    def peers(self) -> list[dict[str, Any]]:
        return self.net.peers()

    def sync_status(self) -> dict[str, Any]:
        """``node_info.sync``: how this node catches up and, in snapshot mode, how far it is."""
        status: dict[str, Any] = {"mode": "snapshot" if self.snapshot is not None else "full",
                                  "snapshot_base": self.chain.store.snapshot_base(),
                                  "nonce_backfill_pending": self.backfill.active}
        snap = self.snapshot
        if snap is not None:
            target = snap.target
            status["snapshot"] = {
                "phase": snap.phase, "target_height": None if target is None else target.height,
                "nodes_fetched": snap.progress.nodes, "bytes_fetched": snap.progress.bytes,
                "queued": snap.queued, "refused_nodes": snap.progress.refused_nodes,
                "installed_height": snap.progress.installed_height, "gave_up": snap.progress.gave_up,
            }
        return status

    def network_height(self) -> int:
        """The height that at least f + 1 validators (this node included, if it is one) announced
        as committed: with at most f of them lying, an honest validator has committed it. Never
        below our own head; a peer not heard from counts as height 0."""
        validators = self.chain.validators()
        own = self.chain.height
        announced = sorted((own if v == self.key.public_bytes else self.sync.peer_heights.get(v, 0) for v in validators),
                           reverse=True)
        f = len(validators) - certificate_quorum(self.chain.genesis.consensus, len(validators))
        return max(own, announced[f]) if len(announced) > f else own


__all__ = ["NetworkService", "msgpack"]
