"""Snapshot sync between in-process chains over a scripted network: an honest fetch, a hostile
peer caught sending a wrong node, a crash in the middle, refused offers and requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from node.chain import Chain
from node.errors import ConsensusError, ConsortiaError
from node.p2p import snapshot as snap
from node.p2p.snapshot import TARGET_RECORD, SnapshotSync, offer, serve_nodes
from node.statetree.snapshot import SnapshotNodeError, TreeContents, check_wire_node, wire_form
from node.store.chainstore import ChainStore
from node.wire.types import CommitCertificate, Vote, commit_vote_bytes
from tests.conftest import set_param
from tests.unit.test_chain import seal
from tests.unit.test_statetree import check_structure


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Blocks:
    peer_heights: dict[bytes, int] = field(default_factory=dict)
    paused: bool = False
    resumed: int = 0

    def resume(self) -> None:
        self.paused = False
        self.resumed += 1


class Net:
    """Peers answer synchronously through ``pump``; a peer's answer may be rewritten (``tamper``)."""

    def __init__(self) -> None:
        self.links: dict[bytes, Any] = {}
        self.servers: dict[bytes, Chain] = {}
        self.tamper: dict[bytes, Any] = {}
        self.outbox: list[tuple[bytes, dict[str, Any]]] = []
        self.client: SnapshotSync | None = None

    def add(self, peer: bytes, server: Chain) -> None:
        self.links[peer] = object()
        self.servers[peer] = server

    def send(self, peer: bytes, message: dict[str, Any]) -> bool:
        self.outbox.append((peer, message))
        return True

    def broadcast(self, message: dict[str, Any]) -> None:
        for peer in self.links:
            self.send(peer, message)

    def pump(self, limit: int = 1 << 30) -> None:
        assert self.client is not None
        while self.outbox and limit > 0:
            limit -= 1
            peer, msg = self.outbox.pop(0)
            server = self.servers[peer]
            if msg["t"] == "snap_head":
                reply = offer(server)
            else:
                reply = serve_nodes(server, msg, 16 * 1024 * 1024, holds=server.holds_tree)
            if peer in self.tamper:
                reply = self.tamper[peer](reply)
            (self.client.on_offer if reply["t"] == "snap_offer" else self.client.on_nodes)(peer, reply)


def _grow(chain: Chain, testnet, blocks: int) -> None:
    """``blocks`` blocks, most of them changing parameters (so the tree has several versions)."""
    for i in range(blocks):
        if i % 3 == 0:
            for name, value in (("block_interval_ms", 500 + i), ("min_seal_ms", 30 + i), ("consensus_timeout_ms", 4000 + i),
                                ("tx_expiry_window", 700 + i)):
                tx = testnet.tx(testnet.admin, **set_param(name, value), expiry_height=chain.height + 100)
                chain.submit(tx.encode())
        seal(chain, testnet.validator)


def _client(testnet, tmp_path, name: str = "b", *, min_blocks: int = 5) -> tuple[Chain, Net, Blocks, Clock, SnapshotSync]:
    store = ChainStore(tmp_path / name)
    chain = Chain(testnet.genesis, store)
    net, blocks, clock = Net(), Blocks(), Clock()
    sync = SnapshotSync(chain, net, blocks, min_blocks=min_blocks, frame_limit=lambda: 16 * 1024 * 1024, clock=clock)
    net.client = sync
    return chain, net, blocks, clock, sync


def _run(sync: SnapshotSync, net: Net, clock: Clock, ticks: int = 200) -> None:
    for _ in range(ticks):
        if not sync.active:
            return
        sync.tick()
        net.pump()
        clock.now += 0.5


class Stored(dict):
    """The nodes in a chain's store (not its cache), as ``check_structure`` reads them."""

    def __init__(self, chain: Chain) -> None:
        super().__init__()
        self.chain = chain

    def __missing__(self, node_hash: bytes) -> bytes:
        raw = self.chain.store.tree_node(node_hash)
        assert raw is not None, "a node under the head root is missing from the store"
        return raw


def _same_chain(a: Chain, b: Chain) -> None:
    assert b.height == a.height
    assert b.head() == a.head()
    assert dict(b.store.state_items()) == dict(a.store.state_items())
    assert check_structure(b.suite.hash, Stored(b), b.head().state_root) == len(dict(b.store.state_items()))


def _start(sync: SnapshotSync) -> None:
    sync.blocks.paused = True
    resumed = sync._load_target()
    if resumed is not None:
        sync._begin(resumed)


def test_a_new_node_installs_the_head_state_and_then_follows_blocks(chain, testnet, tmp_path, monkeypatch):
    monkeypatch.setattr(snap, "NODES_PER_REQUEST", 3)  # several rounds even for a small state
    _grow(chain, testnet, 30)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    peer = b"p" * 32
    net.add(peer, chain)
    blocks.peer_heights[peer] = chain.height
    _start(sync)
    assert blocks.paused
    _run(sync, net, clock)
    assert sync.progress.installed_height == 30 and blocks.resumed == 1 and not blocks.paused
    tree_size = check_structure(chain.suite.hash, Stored(chain), chain.head().state_root) * 2 - 1
    assert 3 < sync.progress.nodes < tree_size  # several rounds; what genesis shares is not fetched
    _same_chain(chain, b)
    assert b.store.meta_get(TARGET_RECORD) is None and b.store.staged_node(chain.head().state_root) is None
    # Block sync takes over: the next certified block re-executes on the installed state.
    _grow(chain, testnet, 2)
    for h in (31, 32):
        block = chain.store.get_block(h)
        b.validate(block)
        b.commit(block, chain.store.get_certificate(h))
    _same_chain(chain, b)
    # The installed node serves its own head and tree to the next one.
    c, net2, blocks2, clock2, sync2 = _client(testnet, tmp_path, "c")
    net2.add(peer, b)
    blocks2.peer_heights[peer] = b.height
    _start(sync2)
    _run(sync2, net2, clock2)
    _same_chain(chain, c)


def test_a_peer_sending_a_wrong_node_is_refused_and_the_node_fetched_from_another(chain, testnet, tmp_path, monkeypatch):
    monkeypatch.setattr(snap, "NODES_PER_REQUEST", 2)
    _grow(chain, testnet, 12)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    liar, honest = b"\x01" * 32, b"\x02" * 32  # the liar sorts first: it is asked first

    def flip_a_leaf_value(reply: dict[str, Any]) -> dict[str, Any]:
        if reply["t"] == "snap_nodes":
            reply["nodes"] = [n[:-1] + bytes([n[-1] ^ 1]) if n[0] == 0 else n for n in reply["nodes"]]
        return reply

    net.add(liar, chain)
    net.add(honest, chain)
    net.tamper[liar] = flip_a_leaf_value
    for p in (liar, honest):
        blocks.peer_heights[p] = chain.height
    _start(sync)
    _run(sync, net, clock)
    assert sync.progress.refused_nodes >= 1
    assert liar in sync._hostile
    assert sync.progress.installed_height == chain.height
    _same_chain(chain, b)


def test_a_peer_sending_more_nodes_than_asked_or_none_is_not_used(chain, testnet, tmp_path):
    _grow(chain, testnet, 8)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    flooder, empty, honest = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    for p in (flooder, empty, honest):
        net.add(p, chain)
        blocks.peer_heights[p] = chain.height
    net.tamper[flooder] = lambda r: {**r, "nodes": r["nodes"] * 2} if r["t"] == "snap_nodes" else r
    net.tamper[empty] = lambda r: {**r, "nodes": []} if r["t"] == "snap_nodes" else r
    _start(sync)
    _run(sync, net, clock)
    assert flooder in sync._hostile and empty in sync._cannot_serve
    _same_chain(chain, b)


def test_an_offer_without_a_quorum_of_our_validators_is_refused(chain, testnet, tmp_path):
    _grow(chain, testnet, 8)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    forger = b"\x01" * 32
    net.add(forger, chain)
    blocks.peer_heights[forger] = chain.height
    stranger = testnet.suite.generate_keypair()

    def forge(reply: dict[str, Any]) -> dict[str, Any]:
        if reply["t"] != "snap_offer":
            return reply
        cert = CommitCertificate.decode(reply["cert"])
        vote = Vote(stranger.public_bytes, testnet.suite.sign(stranger.private_bytes, commit_vote_bytes(
            cert.chain_id, cert.height, cert.view, cert.block_hash)))
        return {**reply, "cert": CommitCertificate(cert.chain_id, cert.height, cert.view, cert.block_hash, (vote,)).encode()}

    net.tamper[forger] = forge
    _start(sync)
    _run(sync, net, clock)
    assert forger in sync._hostile
    assert sync.progress.installed_height is None and sync.progress.gave_up is not None
    assert b.height == 0 and not blocks.paused  # back to block sync from its own head


def test_a_node_killed_mid_snapshot_keeps_its_old_head_and_resumes(chain, testnet, tmp_path, monkeypatch):
    monkeypatch.setattr(snap, "NODES_PER_REQUEST", 2)
    _grow(chain, testnet, 12)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    genesis_state = dict(b.store.state_items())
    peer = b"p" * 32
    net.add(peer, chain)
    blocks.peer_heights[peer] = chain.height
    _start(sync)
    for _ in range(30):  # part of the tree, then "kill -9"
        sync.tick()
        net.pump(limit=1)
        clock.now += 0.5
        if sync.progress.nodes >= 4:
            break
    assert 0 < sync.progress.nodes and sync.progress.installed_height is None
    fetched = sync.progress.nodes
    # The half-fetched state is never what the node reads or serves: its head is still genesis.
    assert b.height == 0 and dict(b.store.state_items()) == genesis_state
    assert serve_nodes(b, {"height": 12, "root": chain.head().state_root, "hashes": [chain.head().state_root],
                           "max_bytes": 1 << 20}, 1 << 24, holds=b.holds_tree)["nodes"] == []
    b.store.close()
    b2, net2, blocks2, clock2, sync2 = _client(testnet, tmp_path)  # the same data directory
    assert b2.height == 0
    from tests.unit.test_statetree import reachable

    needed = len({h for h in reachable(Stored(chain), chain.head().state_root) if b2.store.tree_node(h) is None})
    net2.add(peer, chain)
    blocks2.peer_heights[peer] = chain.height
    _start(sync2)
    assert sync2.target is not None and sync2.target.height == 12  # resumed from the record
    _run(sync2, net2, clock2)
    assert sync2.progress.installed_height == 12
    assert sync2.progress.nodes + fetched == needed  # what was staged before the crash is not fetched again
    _same_chain(chain, b2)


def test_install_refuses_a_snapshot_whose_validator_set_differs(chain, testnet, tmp_path):
    _grow(chain, testnet, 6)
    b, *_ = _client(testnet, tmp_path)
    contents = b.snapshot_contents(chain.head().state_root)
    assert contents.missing == [chain.head().state_root]
    full = TreeContents(state=dict(chain.store.state_items()))
    other = testnet.suite.generate_keypair()
    from node.execution.system.sysconfig import NODE_PREFIX, NodeRecord, node_key

    record = next(v for k, v in full.state.items() if k.startswith(NODE_PREFIX))
    me = NodeRecord.decode(next(k for k in full.state if k.startswith(NODE_PREFIX))[len(NODE_PREFIX):], record)
    full.state[node_key(other.public_bytes)] = NodeRecord(other.public_bytes, "x", "validator", me.host, 2).encode()
    block = chain.store.get_block(6)
    with pytest.raises(ConsensusError, match="validator set"):
        b.install_snapshot(block, chain.store.get_certificate(6), full, record=TARGET_RECORD)
    assert b.height == 0


def test_serving_refuses_foreign_roots_and_stays_within_the_byte_budget(chain, testnet):
    _grow(chain, testnet, 6)
    head = chain.head()
    root = head.state_root
    ask = {"height": 6, "root": root, "hashes": [root], "max_bytes": 1 << 20}
    assert serve_nodes(chain, ask, 1 << 24, holds=chain.holds_tree)["nodes"] == [wire_form(chain.tree.get(root))]
    assert serve_nodes(chain, {**ask, "height": 2}, 1 << 24, holds=chain.holds_tree)["nodes"] == []  # another block's root
    assert serve_nodes(chain, {**ask, "height": 7}, 1 << 24, holds=chain.holds_tree)["nodes"] == []  # not committed
    assert serve_nodes(chain, ask, 1 << 24, holds=lambda h: False)["nodes"] == []  # pruned
    children = check_wire_node(chain.suite.hash, root, wire_form(chain.tree.get(root)))
    many = {**ask, "hashes": [root, *children]}
    assert len(serve_nodes(chain, many, 1 << 24, holds=chain.holds_tree)["nodes"]) == 3
    assert len(serve_nodes(chain, {**many, "max_bytes": 80}, 1 << 24, holds=chain.holds_tree)["nodes"]) == 1
    for bad in ({**ask, "hashes": []}, {**ask, "hashes": [b"x"]}, {**ask, "root": b"r"}, {**ask, "height": 0},
                {**ask, "hashes": [root] * 1025}, {**ask, "max_bytes": -1}):
        with pytest.raises(ConsortiaError):
            serve_nodes(chain, bad, 1 << 24, holds=chain.holds_tree)


def test_wire_nodes_are_checked_against_the_hash_asked_for(chain, testnet):
    _grow(chain, testnet, 3)
    h = chain.suite.hash
    root = chain.head().state_root
    raw = wire_form(chain.tree.get(root))
    left, right = check_wire_node(h, root, raw)
    leaf_hash = left
    while chain.tree.get(leaf_hash)[0] != 0:
        leaf_hash = check_wire_node(h, leaf_hash, wire_form(chain.tree.get(leaf_hash)))[0]
    leaf = wire_form(chain.tree.get(leaf_hash))
    assert check_wire_node(h, leaf_hash, leaf) == ()
    for expected, bad in ((root, raw + b"\x00"), (root, raw[:-1]), (right, raw), (root, b""), (root, b"\x07" + raw[1:]),
                          (leaf_hash, leaf[:-1]), (leaf_hash, leaf + b"x"), (leaf_hash, leaf[:66]), (leaf_hash, leaf[:70])):
        with pytest.raises(SnapshotNodeError):
            check_wire_node(h, expected, bad)


def test_sync_settings_are_checked(tmp_path):
    from node.config import NodeConfig, SyncConfig
    from node.errors import ConfigError

    cfg = NodeConfig(name="n", role="observer", sync=SyncConfig(mode="snapshot", snapshot_min_blocks=50))
    cfg.save(tmp_path)
    loaded = NodeConfig.load(tmp_path)
    assert loaded.sync == SyncConfig("snapshot", 50)
    for bad in ({"mode": "fast"}, {"snapshot_min_blocks": 0}, {"snapshot_min_blocks": "many"}, {"turbo": True}):
        text = (tmp_path / "config.toml").read_text().split("[sync]")[0]
        (tmp_path / "config.toml").write_text(text + "[sync]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"').replace("True", "true")
                                                                        for k, v in bad.items()))
        with pytest.raises(ConfigError):
            NodeConfig.load(tmp_path)


class BlockServer:
    """A peer answering ``getblocks`` with real block sync, optionally rewriting its answers."""

    def __init__(self, chain: Chain, peer: bytes, tamper=None) -> None:
        from node.p2p.sync import BlockSync

        self.peer, self.tamper, self.replies = peer, tamper, []
        outer = self

        class Capture:
            links: dict = {}

            def send(self, peer, message):
                outer.replies.append(message)
                return True

        self.sync = BlockSync(chain, Capture())


def _backfill_run(backfill, servers: dict[bytes, BlockServer], rounds: int = 100) -> None:
    outbox = []
    backfill.net.send = lambda peer, msg: outbox.append((peer, msg)) or True
    for _ in range(rounds):
        if not backfill.active:
            return
        backfill.tick()
        while outbox:
            peer, msg = outbox.pop(0)
            server = servers[peer]
            server.sync.serve(peer, msg)
            reply = server.replies.pop()
            backfill.on_blocks(peer, server.tamper(reply) if server.tamper else reply)


def test_after_a_snapshot_the_nonces_below_it_are_fetched_checked_and_a_replay_refused(chain, testnet, tmp_path):
    from node.errors import DuplicateTransaction
    from node.p2p.backfill import RECORD, NonceBackfill

    sent = []
    for _ in range(20):
        tx = testnet.tx(testnet.admin, **set_param("min_seal_ms", 40), expiry_height=chain.height + 300)
        chain.submit(tx.encode())
        sent.append(tx)
        seal(chain, testnet.validator)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    liar, honest = b"\x01" * 32, b"\x02" * 32
    for p in (liar, honest):
        net.add(p, chain)
        blocks.peer_heights[p] = chain.height
    _start(sync)
    _run(sync, net, clock)
    assert b.height == 20 and b.store.meta_get(RECORD)
    # Block 20's own transaction is recorded by the install itself; the rest are not yet.
    last = sent[-1]
    assert b.store.nonce_expiry(testnet.suite.address(last.sender_pubkey), last.nonce) == last.expiry_height
    assert b.store.nonce_expiry(testnet.suite.address(sent[0].sender_pubkey), sent[0].nonce) is None
    fake = ChainStore(tmp_path / "fork")  # another chain's block at the same heights: a liar's
    fork = Chain(testnet.genesis, fake)
    for _ in range(20):
        seal(fork, testnet.validator)

    def swap(reply):
        reply["items"] = [[fork.store.get_block_bytes(Block.decode(raw).height), cert] for raw, cert in reply["items"]]
        return reply

    from node.wire.types import Block

    backfill = NonceBackfill(b, net, blocks)
    assert backfill.resume()
    net.links = {liar: object(), honest: object()}
    _backfill_run(backfill, {liar: BlockServer(chain, liar, swap), honest: BlockServer(chain, honest)})
    assert not backfill.active and liar in backfill._cannot
    assert not b.store.meta_get(RECORD)
    for tx in sent:
        assert b.store.nonce_expiry(testnet.suite.address(tx.sender_pubkey), tx.nonce) == tx.expiry_height
    with pytest.raises(DuplicateTransaction):
        b.submit(sent[3].encode())
    fake.close()


def test_a_backfill_killed_midway_resumes_after_what_it_stored(chain, testnet, tmp_path, monkeypatch):
    from node.p2p import backfill as bf
    from node.p2p.backfill import NonceBackfill

    monkeypatch.setattr(bf, "WINDOW", 4)
    sent = []
    for _ in range(16):
        tx = testnet.tx(testnet.admin, **set_param("min_seal_ms", 41), expiry_height=chain.height + 300)
        chain.submit(tx.encode())
        sent.append(tx)
        seal(chain, testnet.validator)
    b, net, blocks, clock, sync = _client(testnet, tmp_path)
    peer = b"p" * 32
    net.add(peer, chain)
    blocks.peer_heights[peer] = chain.height
    _start(sync)
    _run(sync, net, clock)
    first = NonceBackfill(b, net, blocks)
    assert first.resume()
    _backfill_run(first, {peer: BlockServer(chain, peer)}, rounds=2)  # two windows of 4, then "kill -9"
    assert first.active and first.top == 15 - 8  # the snapshot is block 16; blocks 8..15 are stored
    b.store.close()
    b2, net2, blocks2, *_ = _client(testnet, tmp_path)
    net2.add(peer, chain)
    blocks2.peer_heights[peer] = chain.height
    second = NonceBackfill(b2, net2, blocks2)
    assert second.resume() and second.top == 7
    _backfill_run(second, {peer: BlockServer(chain, peer)})
    assert not second.active and second.stored == 7  # blocks 1..7, one transaction each
    for tx in sent:
        assert b2.store.nonce_expiry(testnet.suite.address(tx.sender_pubkey), tx.nonce) == tx.expiry_height
