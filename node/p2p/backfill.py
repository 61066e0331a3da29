"""After a snapshot: the replay-protection records of the blocks just below it.

A node remembers the (sender, nonce) pair of every committed transaction until it expires, so no
transaction commits twice. A snapshot carries the state, not those records: for the
``tx_expiry_window`` blocks after the snapshot height the node would not know the nonces used just
before it. This fetches blocks ``H - window + 1 .. H`` from peers (with ``getblocks`` tagged by an
``id``, so block sync's own requests are not confused with them), checks them as a hash chain
down from the certified block ``H`` (each block's hash is its child's ``parent_hash``, its
transactions match its ``tx_root``), and stores their nonce records. Progress is a node-local
record, written in the same batch as the nonces: a restarted node resumes where it stopped.
Docs: docs/snapshot-sync.md, "Replay protection across the snapshot".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from node.chain import Chain
from node.errors import ConsortiaError, StoreError
from node.merkle import merkle_root
from node.p2p.snapshot import Blocks, Net
from node.store.chainstore import META_BACKFILL, NonceRecord
from node.wire.types import Block

log = logging.getLogger("consortia.snapshot")

RECORD = META_BACKFILL  # msgpack [low, top, hash of block top]: blocks low..top still to read (written by the install)
WINDOW = 128  # most blocks asked for at once (the answer may hold fewer: a prefix within its byte budget)
REQUEST_ID = 1  # the ``id`` of our ``getblocks`` requests, echoed in the answers
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Seen:
    """A fetched block, waiting until the blocks above it link it to the certified head."""

    block_hash: bytes
    parent_hash: bytes
    records: tuple[NonceRecord, ...]


class NonceBackfill:
    def __init__(self, chain: Chain, net: Net, blocks: Blocks, clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.net = net
        self.blocks = blocks
        self.clock = clock
        self.low = self.top = 0
        self.expected = b""
        self.active = False
        self.stored = 0  # nonce records written
        self._seen: dict[int, Seen] = {}
        self._inflight: tuple[bytes, int, int, float] | None = None  # (peer, from, to, sent at)
        self._cannot: set[bytes] = set()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def resume(self) -> bool:
        """Pick up an interrupted backfill from its record; False if there is none."""
        raw = self.chain.store.meta_get(RECORD)
        if not raw:
            return False
        try:
            low, top, expected = msgpack.unpackb(raw)
            self._set(int(low), int(top), bytes(expected))
        except (ValueError, TypeError):
            self.chain.store.meta_put(RECORD, b"")
            return False
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._ticker(), name="nonce-backfill")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _ticker(self) -> None:
        while True:
            try:
                self.tick()
            except StoreError:
                return
            except Exception:
                log.exception("event=nonce_backfill_failed")
                return
            await asyncio.sleep(0.5)

    def _set(self, low: int, top: int, expected: bytes) -> None:
        self.low, self.top, self.expected = low, top, expected
        self.active = top >= low
        self._seen.clear()

    # --- fetching ----------------------------------------------------------------------------

    def tick(self) -> None:
        if not self.active:
            return
        self._link()
        if not self.active:
            return
        now = self.clock()
        if self._inflight is not None:
            peer, _, _, sent = self._inflight
            if now - sent < REQUEST_TIMEOUT and peer in self.net.links:
                return
            self._cannot.add(peer)
            self._inflight = None
        missing = next(h for h in range(self.top, self.low - 1, -1) if h not in self._seen)
        start = missing
        while start - 1 >= max(self.low, missing - WINDOW + 1) and start - 1 not in self._seen:
            start -= 1
        peers = [p for p in self.net.links if p not in self._cannot and self.blocks.peer_heights.get(p, 0) >= missing]
        if not peers:
            if not any(p not in self._cannot for p in self.net.links):
                self._give_up("no peer holds the blocks below the snapshot")
            return
        peer = peers[0]
        if self.net.send(peer, {"t": "getblocks", "from": start, "count": missing - start + 1, "id": REQUEST_ID}):
            self._inflight = (peer, start, missing, now)

    def on_blocks(self, peer: bytes, msg: dict[str, Any]) -> None:
        """An answer to one of our requests (``id`` set); anything unasked for is ignored."""
        items = msg.get("items")
        if type(items) is not list:
            raise ConsortiaError("malformed block batch")
        if self._inflight is None or self._inflight[0] != peer or msg.get("id") != REQUEST_ID:
            return
        _, start, end, _ = self._inflight
        self._inflight = None
        if not items:
            self._cannot.add(peer)
            return
        try:
            for i, item in enumerate(items):
                if type(item) is not list or len(item) != 2 or type(item[0]) is not bytes:
                    raise ConsortiaError("malformed block item")
                block = Block.decode(item[0])
                if block.height != start + i or block.height > end:
                    raise ConsortiaError(f"block {block.height} is not the one asked for")
                if merkle_root(self.chain.suite.hash, [self.chain.suite.hash(t.signing_bytes()) for t in block.txs]) != block.header.tx_root:
                    raise ConsortiaError(f"block {block.height}'s transactions do not match its tx_root")
                self._seen[block.height] = self._examine(block)
        except ConsortiaError as exc:
            self._cannot.add(peer)
            log.warning("event=nonce_backfill_refused peer=%s reason=%r", peer.hex()[:16], exc.message)
        if not self._link():
            self._cannot.add(peer)

    def _examine(self, block: Block) -> Seen:
        suite, head = self.chain.suite, self.chain.height
        records = tuple(NonceRecord(suite.address(t.sender_pubkey), t.nonce, t.expiry_height)
                        for t in block.txs if t.expiry_height > head)
        return Seen(suite.hash(block.header.encode()), block.header.parent_hash, records)

    def _link(self) -> bool:
        """Store what now links down from the certified block; drop what contradicts it (False)."""
        records: list[NonceRecord] = []
        linked = True
        start = self.top
        while self.top >= self.low and self.top in self._seen:
            seen = self._seen.pop(self.top)
            if seen.block_hash != self.expected:
                log.warning("event=nonce_backfill_mismatch height=%d", self.top)
                self._seen.clear()  # not the chain's block: fetch the window again, from another peer
                linked = False
                break
            records.extend(seen.records)
            self.expected = seen.parent_hash
            self.top -= 1
        if self.top != start:
            self._save(records)
        return linked

    def _save(self, records: list[NonceRecord]) -> None:
        done = self.top < self.low
        value = b"" if done else msgpack.packb([self.low, self.top, self.expected])
        self.chain.store.put_nonces(records, meta=(RECORD, value))
        self.stored += len(records)
        if done:
            self.active = False
            log.info("event=nonce_backfill_done records=%d", self.stored)

    def _give_up(self, reason: str) -> None:
        self.active = False
        self.chain.store.meta_put(RECORD, b"")
        log.warning("event=nonce_backfill_gave_up reason=%r below_height=%d", reason, self.top)
