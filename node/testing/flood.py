"""A validator that floods its peers: for Byzantine-validator tests on real processes only.

Beside its normal consensus traffic, every ``interval_s`` it sends each validator it is linked to:

- valid-looking PBFT votes, correctly signed by its own key, for random block hashes at heights
  in and far beyond the window and at views ahead (PBFT chains only: on Raft a signed vote with
  a high term would be an attack Raft does not claim to survive);
- consensus frames whose payload is random bytes, and frames of an unknown type;
- transaction batches of random bytes;
- and now and then a frame that is not msgpack at all, which makes the peer close the link.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consensus.messages import sign_message
from consensus.pbft.messages import Commit, Prepare
from consensus.registry import EngineSpec
from node.chain import Chain
from node.crypto.base import KeyPair
from node.p2p.transport import P2PNetwork

log = logging.getLogger("consortia.byzantine")


@dataclass
class Flood:
    chain: Chain
    key: KeyPair
    net: P2PNetwork
    spec: EngineSpec
    interval_s: float = 0.05
    votes_per_tick: int = 30
    junk_per_tick: int = 30
    garbage_every: int = 40  # ticks between frames that are not msgpack (each closes the link)
    sent: Counter[str] = field(default_factory=Counter)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="byzantine-flood")

    async def _run(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self.interval_s)
            tick += 1
            peers = [p for p, link in self.net.links.items() if link.role == "validator"]
            frames = self._votes() + self._junk()
            for peer in peers:
                for frame in frames:
                    self.net.send(peer, frame)
            if tick % self.garbage_every == 0:
                for peer in peers:
                    self._raw(peer, b"\xc1" + secrets.token_bytes(64))  # 0xc1 is never valid msgpack
                    self.sent["not_msgpack"] += 1
                log.warning("event=byzantine_flood sent=%s", dict(self.sent))

    def _votes(self) -> list[dict[str, Any]]:
        if self.spec.name != "pbft":
            return []
        base = self.chain.height + 1
        out = []
        for i in range(self.votes_per_tick):
            kind = Prepare if i % 2 else Commit
            height = base + (i % 8 if i % 3 else 70 + i)  # in the window, or beyond what is buffered
            vote = kind(height, secrets.randbelow(20), secrets.token_bytes(32), self.key.public_bytes)
            signed = sign_message(self.chain.suite, self.key.private_bytes, self.chain.chain_id, vote)
            out.append({"t": "cons", "m": self.spec.encode(signed)})
        self.sent["signed_votes"] += len(out)
        return out

    def _junk(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"t": "cons", "m": secrets.token_bytes(1 + i)} for i in range(self.junk_per_tick)]
        out.append({"t": "txs", "txs": [secrets.token_bytes(80) for _ in range(8)]})
        out.append({"t": "flood"})
        self.sent["undecodable_consensus"] += self.junk_per_tick
        self.sent["junk_transactions"] += 8
        self.sent["unknown_type"] += 1
        return out

    def _raw(self, peer: bytes, data: bytes) -> None:
        """Queue bytes as one frame as they are, past the encoder (the transport frames them)."""
        link = self.net.links.get(peer)
        if link is not None and not link.queue.full():
            link.queue.put_nowait(data)
