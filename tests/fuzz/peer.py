"""The node a fuzzed peer talks to: a real ``NetworkService`` on a real chain, with the network
replaced by a recorder, so every frame goes through ``on_message`` exactly as the transport
hands it over and every answer is kept for the target's checks.

Two chains from one genesis: the *source* commits four certified blocks; the *node* (the one
under test) holds the first three, so the source's block 4 (and its state) is the one valid
thing a peer can give it. Whenever an input does make the node advance, the node is built
again, so every input starts from the same state.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from node.chain import Chain
from node.config import SyncConfig
from node.p2p.backfill import NonceBackfill
from node.p2p.certs import make_ca, write_node_tls
from node.p2p.service import NetworkService
from node.p2p.snapshot import SnapshotSync, Target
from node.p2p.sync import BlockSync
from node.store.chainstore import ChainStore
from node.wire import codec
from node.wire.types import Block, CommitCertificate
from tests.conftest import TestNet, make_testnet, set_param
from tests.unit.test_chain import seal

NODE_HEIGHT = 3  # the node under test; the source is one block ahead
PEERS = (b"\x70" * 32, b"\x71" * 32)  # linked peers (a fuzzed frame comes from one of them)
UNLINKED = b"\x72" * 32


@dataclass
class FakeLink:
    role: str


@dataclass
class RecordingNet:
    """What ``NetworkService``, block sync, snapshot sync and the backfill need from the transport:
    sends are encoded exactly as the transport would and kept, never put on a socket."""

    limit: Any  # () -> int: the node's frame limit
    links: dict[bytes, FakeLink] = field(default_factory=lambda: {p: FakeLink("validator") for p in PEERS})
    sent: list[tuple[bytes | None, dict[str, Any], int]] = field(default_factory=list)  # (peer or None: broadcast, message, bytes)

    def send(self, peer: bytes, message: dict[str, Any]) -> bool:
        self.sent.append((peer, message, len(codec.encode(message))))
        return peer in self.links

    def broadcast(self, message: dict[str, Any], *, roles: tuple[str, ...] = ("validator", "observer")) -> None:
        self.sent.append((None, message, len(codec.encode(message))))

    def follow_node_list(self) -> None:
        pass

    def peers(self) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class Snapshot:
    """What the node's chain looks like from outside: a peer message may change it only by a valid block."""

    height: int
    head_hash: bytes
    state_root: bytes
    staged: bool


@dataclass
class PeerNode:
    root: Path
    net: TestNet
    source: Chain
    blocks: tuple[tuple[bytes, bytes], ...]  # the source's (block, certificate) encodings, heights 1..4
    txs: tuple[bytes, ...]  # signed transactions valid on the node (none committed)
    loop: asyncio.AbstractEventLoop
    chain: Chain
    service: NetworkService
    recorder: RecordingNet
    builds: int = 1
    _home: Path = field(default_factory=Path)

    def look(self) -> Snapshot:
        head = self.chain.head()
        return Snapshot(head.height, head.block_hash, head.state_root, self.chain.store.has_staged())

    def target(self) -> Target:
        """The source's block 4 as a snapshot target (what a verified offer becomes)."""
        block = Block.decode(self.blocks[NODE_HEIGHT][0])
        return Target(block, self.source.suite.hash(block.header.encode()), CommitCertificate.decode(self.blocks[NODE_HEIGHT][1]))

    def fresh_parts(self) -> None:
        """New block sync, snapshot sync and backfill over a new recorder: no state from the last input."""
        s = self.service
        self.recorder = RecordingNet(limit=s.frame_limit)
        s.net = self.recorder  # type: ignore[assignment]
        s.sync = BlockSync(self.chain, self.recorder)  # type: ignore[arg-type]
        s.backfill = NonceBackfill(self.chain, self.recorder, s.sync)
        s.snapshot = SnapshotSync(self.chain, self.recorder, s.sync, min_blocks=1, frame_limit=s.frame_limit,
                                  on_installed=lambda: None)
        s._seen.clear()
        pool = self.chain.pool
        pool.remove(list(pool._by_hash))
        self.chain.store.clear_staged()

    def rebuild(self) -> None:
        """The node advanced (a valid block or snapshot): start again from height 3."""
        self.chain.store.close()
        self.chain, self.service = _node(self.root / f"node-{self.builds}", self._home, self.net, self.blocks)
        self.builds += 1
        self.fresh_parts()


def _node(data: Path, home: Path, net: TestNet, blocks: tuple[tuple[bytes, bytes], ...]) -> tuple[Chain, NetworkService]:
    if data.exists():
        shutil.rmtree(data)
    chain = Chain(net.genesis, ChainStore(data, create=True))
    for raw, cert in blocks[:NODE_HEIGHT]:
        chain.commit(Block.decode(raw), CommitCertificate.decode(cert), catchup=True)
    service = NetworkService(chain, net.validator, home, "127.0.0.1", 0, sync=SyncConfig(mode="snapshot"))
    return chain, service


@cache
def peer_node() -> PeerNode:
    root = Path(tempfile.mkdtemp(prefix="consortia-fuzz-peer-"))
    atexit.register(shutil.rmtree, root, True)
    net = make_testnet("std")
    source = Chain(net.genesis, ChainStore(root / "source", create=True))
    for i in range(NODE_HEIGHT + 1):
        source.submit(net.tx(net.admin, **set_param("block_interval_ms", 800 + i)).encode())
        seal(source, net.validator)
    blocks = []
    for h in range(1, NODE_HEIGHT + 2):
        raw, cert = source.store.get_block_bytes(h), source.store.get_certificate(h)
        assert raw is not None and cert is not None
        blocks.append((raw, cert.encode()))
    txs = tuple(net.tx(net.user, expiry_height=NODE_HEIGHT + 40, nonce=bytes([i]) * 16).encode() for i in range(3))
    home = root / "home"
    write_node_tls(home, make_ca("fuzz"), "v0", net.validator.public_bytes)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    chain, service = _node(root / "node-0", home, net, tuple(blocks))
    node = PeerNode(root, net, source, tuple(blocks), txs, loop, chain, service, RecordingNet(limit=service.frame_limit), _home=home)
    node.fresh_parts()
    return node


__all__ = ["PEERS", "UNLINKED", "PeerNode", "peer_node"]
