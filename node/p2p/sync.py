"""Catch-up: fetch certified blocks from peers in batches, verify, re-execute and commit them.

Every node announces its height (``status``) every second and after each commit, with the header
and commit certificate of its head: a peer that committed another block at that height proves a
fork (``node.forkwatch``), and so does a certified block in a catch-up answer that differs from
ours or does not extend our head (then we ask for the block at our own height to compare). A node that
sees a peer ahead of it asks that peer for the next batch; each received block must carry a commit
certificate from a quorum of the current validators, and is re-executed so that its state root is
checked before it is committed. Observers follow the chain this way and never vote. A peer that
answers with no blocks (it joined by snapshot above the heights asked for) is skipped until its
next status. A request may carry an ``id``, echoed in the answer: such answers belong to the
nonce backfill after a snapshot (``node.p2p.backfill``), never to this catch-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.chain import Chain
from node.errors import ConsortiaError
from node.events import SyncProgress
from node.forkwatch import ForkWatch
from node.p2p.transport import P2PNetwork
from node.params import CATCHUP_BLOCKS
from node.wire.types import Block, CommitCertificate

log = logging.getLogger("consortia.sync")

BATCH = 128
REQUEST_TIMEOUT = 10.0


class BlockSync:
    def __init__(self, chain: Chain, net: P2PNetwork, forks: ForkWatch | None = None) -> None:
        self.chain = chain
        self.net = net
        self.forks = forks  # None: no fork detection (in-process tests of sync alone)
        self._head_cache: tuple[int, list[bytes] | None] = (-1, None)
        self.peer_heights: dict[bytes, int] = {}
        self._request: tuple[bytes, int, float] | None = None
        self._applying = False
        self._progress_at = 0.0
        self._progress_from = 0
        self.rejected_batches = 0
        self.paused = False  # held back while snapshot sync decides or fetches (node.p2p.snapshot)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._ticker(), name="block-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _ticker(self) -> None:
        while True:
            self.announce()
            self._maybe_request()
            await asyncio.sleep(1.0)

    def target_height(self) -> int:
        """The highest height a peer announced, or ours if none is ahead (what catch-up aims for)."""
        return max(self.chain.height, max(self.peer_heights.values(), default=0))

    @property
    def halted(self) -> bool:
        """A fork is known: apply nothing more (node.forkwatch)."""
        return self.forks is not None and self.forks.halted

    def status_message(self) -> dict[str, Any]:
        """``status``: our height and, above genesis, ``head`` = [encoded header, encoded certificate] of it."""
        height = self.chain.height
        if self._head_cache[0] != height:
            header, cert = self.chain.store.get_header(height), self.chain.store.get_certificate(height)
            self._head_cache = (height, None if header is None or cert is None else [header.encode(), cert.encode()])
        msg: dict[str, Any] = {"t": "status", "height": height}
        if self._head_cache[1] is not None:
            msg["head"] = self._head_cache[1]
        return msg

    def announce(self) -> None:
        self.net.broadcast(self.status_message())

    # --- messages --------------------------------------------------------------------------

    def on_status(self, peer: bytes, msg: dict[str, Any]) -> None:
        height = msg.get("height")
        if type(height) is not int or height < 0:
            raise ConsortiaError("malformed status")
        head = msg.get("head")
        if head is not None:
            if type(head) is not list or len(head) != 2 or type(head[0]) is not bytes or type(head[1]) is not bytes:
                raise ConsortiaError("malformed status head")
            cert = CommitCertificate.decode(head[1])
            if cert.height != height:
                raise ConsortiaError("status head certificate is for another height")
            if self.forks is not None:
                self.forks.check(cert, head[0], peer=peer, source="status")
        self.peer_heights[peer] = height
        self._maybe_request()

    def request(self, target: int, hint: bytes | None) -> None:
        if hint is not None:
            self.peer_heights[hint] = max(self.peer_heights.get(hint, 0), target)
        self._maybe_request()

    def offer(self, peer: bytes, height: int) -> None:
        """A peer is behind: tell it our height so that it asks us for blocks."""
        self.net.send(peer, self.status_message())

    def resume(self) -> None:
        """Snapshot sync is done (or not used): fetch blocks from our head on."""
        self.paused = False
        self._request = None
        self._maybe_request()

    def _maybe_request(self) -> None:
        if self._applying or self.paused or self.halted:
            return
        now = time.monotonic()
        if self._request is not None and now - self._request[2] < REQUEST_TIMEOUT:
            return
        mine = self.chain.height
        ahead = [(h, p) for p, h in self.peer_heights.items() if h > mine and p in self.net.links]
        if not ahead:
            self._request = None
            return
        target, peer = max(ahead)
        count = min(BATCH, target - mine)
        self._request = (peer, mine + 1, now)
        if self._progress_at == 0.0:
            self._progress_at, self._progress_from = now, mine
        self.net.send(peer, {"t": "getblocks", "from": mine + 1, "count": count})

    def serve(self, peer: bytes, msg: dict[str, Any]) -> None:
        start, count = msg.get("from"), msg.get("count")
        if type(start) is not int or type(count) is not int or start < 1 or not 0 < count <= BATCH:
            raise ConsortiaError("malformed block request")
        items: list[list[bytes]] = []
        size = 0
        budget = CATCHUP_BLOCKS * self.chain.params().max_block_bytes  # the frame limit allows for this much
        store = self.chain.store
        for h in range(start, min(start + count, self.chain.height + 1)):
            raw = store.get_block_bytes(h)
            cert = store.get_certificate(h)
            if raw is None or cert is None:
                break
            size += len(raw)
            if items and size > budget:
                break
            items.append([raw, cert.encode()])
        reply: dict[str, Any] = {"t": "blocks", "items": items}
        request_id = msg.get("id")
        if type(request_id) is int and 0 <= request_id < 2**32:
            reply["id"] = request_id  # the asker's tag (node.p2p.backfill), echoed
        self.net.send(peer, reply)

    def on_blocks(self, peer: bytes, msg: dict[str, Any]) -> None:
        items = msg.get("items")
        if type(items) is not list or len(items) > BATCH:
            raise ConsortiaError("malformed block batch")
        if self._applying or self.paused or self.halted:
            return
        if not items:
            # It does not hold the blocks we asked for (e.g. it joined by snapshot above them):
            # ask another peer; its next status makes it a candidate again.
            self.peer_heights.pop(peer, None)
        self._applying = True
        asyncio.create_task(self._apply(peer, items))

    async def _apply(self, peer: bytes, items: list[Any]) -> None:
        applied = 0
        try:
            for item in items:
                if self.halted:
                    break
                if type(item) is not list or len(item) != 2 or type(item[0]) is not bytes or type(item[1]) is not bytes:
                    raise ConsortiaError("malformed block item")
                block = Block.decode(item[0])
                cert = CommitCertificate.decode(item[1])
                if block.height <= self.chain.height:
                    if self.forks is not None:  # another block than ours at a height we committed is a fork
                        self.forks.check(cert, block.header.encode(), peer=peer, source="sync")
                    continue
                if block.height != self.chain.height + 1:
                    raise ConsortiaError(f"block {block.height} does not follow our head {self.chain.height}")
                block_hash = self.chain.suite.hash(block.header.encode())
                validators = self.chain.validators()
                verify_certificate(self.chain.suite, cert, chain_id=self.chain.chain_id, height=block.height,
                                   block_hash=block_hash, validators=validators,
                                   quorum=certificate_quorum(self.chain.genesis.consensus, len(validators)))
                if block.header.parent_hash != self.chain.head().block_hash:
                    # Certified, yet not on our chain: the peer finalised another block at our
                    # height. Ask it for that block, so the fork watch can compare certificates.
                    if self.chain.height >= 1:
                        self.net.send(peer, {"t": "getblocks", "from": self.chain.height, "count": 1})
                    raise ConsortiaError(f"certified block {block.height} does not extend our head")
                self.chain.validate(block)
                self.chain.commit(block, cert, catchup=True)
                applied += 1
                await asyncio.sleep(0)  # keep serving RPC and consensus while catching up
        except ConsortiaError as exc:
            self.rejected_batches += 1
            self.peer_heights.pop(peer, None)
            log.warning("event=sync_batch_rejected peer=%s reason=%r", peer.hex()[:16], exc.message)
        finally:
            self._applying = False
            self._request = None
        if applied:
            target = max(self.peer_heights.values(), default=self.chain.height)
            self.chain.bus.publish(SyncProgress(applied, self.chain.height, max(target, self.chain.height)))
            self._log_progress()
        self._maybe_request()

    def _log_progress(self) -> None:
        target = max(self.peer_heights.values(), default=self.chain.height)
        now = time.monotonic()
        done = self.chain.height >= target
        if done or now - self._progress_at >= 5.0:
            elapsed = max(now - self._progress_at, 1e-6)
            rate = (self.chain.height - self._progress_from) / elapsed * 60
            log.info("event=catchup height=%d target=%d blocks_per_min=%.0f%s", self.chain.height, target, rate,
                     " done=true" if done else "")
            self._progress_at, self._progress_from = (0.0, 0) if done else (now, self.chain.height)
