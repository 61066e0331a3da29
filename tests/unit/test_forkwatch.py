"""Fork detection (node.forkwatch): which certificates prove a fork, against which validator set,
who double-signed, what is kept across a restart, what block sync does with it, and the
operator's ``clear-fork``. Each test fails with detection switched off (``enabled=False``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from consensus.certificate import quorum_size
from node.chain import Chain
from node.cli.main import main as cli
from node.config import DATA_DIR, GENESIS_FILE
from node.crypto import get_suite
from node.crypto.base import KeyPair
from node.events import ForkDetected
from node.execution.system.registry import address_of
from node.forkwatch import ForkWatch, double_signers, load_evidence, validator_set
from node.genesis import Genesis, GenesisNode
from node.p2p.sync import BlockSync
from node.store.chainstore import ChainStore
from node.wire import codec
from node.wire.types import Block, CommitCertificate, Transaction, Vote, commit_vote_bytes

SUITE = get_suite("std")


@dataclass
class Net:
    keys: list[KeyPair]  # validators, in key order
    admin: KeyPair
    observer: KeyPair
    genesis: Genesis


def make_net() -> Net:
    keys = sorted((SUITE.generate_keypair() for _ in range(4)), key=lambda k: k.public_bytes)
    admin, observer = SUITE.generate_keypair(), SUITE.generate_keypair()
    nodes = (*(GenesisNode(f"v{i}", "validator", k.public_bytes, "127.0.0.1", 1 + i) for i, k in enumerate(keys)),
             GenesisNode("o4", "observer", observer.public_bytes, "127.0.0.1", 9))
    genesis = Genesis(chain_id="fork-test", suite="std", consensus="pbft", timestamp_ms=1_700_000_000_000,
                      nodes=nodes, admins=(SUITE.address(admin.public_bytes),), params={})
    return Net(keys, admin, observer, genesis)


def certify(chain: Chain, block: Block, signers: list[KeyPair], view: int = 0) -> CommitCertificate:
    block_hash = SUITE.hash(block.header.encode())
    votes = tuple(sorted((Vote(k.public_bytes, SUITE.sign(k.private_bytes, commit_vote_bytes(chain.chain_id, block.height, view,
                                                                                         block_hash))) for k in signers),
                         key=lambda v: v.validator))
    return CommitCertificate(chain.chain_id, block.height, view, block_hash, votes)


def seal(chain: Chain, net: Net, signers: list[KeyPair], shift_ms: int = 1, txs: list[bytes] = ()) -> tuple[Block, CommitCertificate]:
    for raw in txs:
        chain.submit(raw)
    head = chain.head()
    proposal = chain.propose(height=head.height + 1, view=0, proposer=net.keys[0].public_bytes,
                             timestamp_ms=head.timestamp_ms + shift_ms, max_txs=100)
    cert = certify(chain, proposal.block, signers)
    chain.commit(proposal.block, cert)
    return proposal.block, cert


def fork_watch(chain: Chain, enabled: bool = True) -> ForkWatch:
    return ForkWatch(chain, quorum_size, enabled=enabled)


@pytest.fixture
def two_chains(tmp_path):
    """The same genesis on two stores; each commits a different block 1, with certificates signed
    by validators 0, 1 and 2 (ours) and 0, 1 and 3 (theirs): 0 and 1 signed both."""
    net = make_net()
    stores = [ChainStore(tmp_path / "a"), ChainStore(tmp_path / "b")]
    ours, theirs = Chain(net.genesis, stores[0]), Chain(net.genesis, stores[1])
    k = net.keys
    a = seal(ours, net, [k[0], k[1], k[2]], shift_ms=1)
    b = seal(theirs, net, [k[0], k[1], k[3]], shift_ms=2)
    yield net, ours, theirs, a, b
    for s in stores:
        s.close()


def test_a_certificate_for_another_block_at_a_committed_height_is_a_fork(two_chains, caplog):
    net, ours, theirs, (block_a, cert_a), (block_b, cert_b) = two_chains
    events: list[ForkDetected] = []
    ours.bus.subscribe(ForkDetected, events.append)
    watch = fork_watch(ours)
    caplog.set_level(logging.INFO, logger="consortia.fork")
    assert watch.check(cert_b, block_b.header.encode(), peer=net.keys[3].public_bytes, source="status")
    assert watch.halted and len(events) == 1
    ev = events[0].evidence
    assert ev.height == 1 and ev.committed and ev.ours.block_hash == cert_a.block_hash and ev.theirs.block_hash == cert_b.block_hash
    assert ev.double_signers == (net.keys[0].public_bytes, net.keys[1].public_bytes)
    assert ev.ours_header == block_a.header.encode() and ev.theirs_header == block_b.header.encode()
    lines = [r.getMessage() for r in caplog.records if "event=fork_detected" in r.getMessage()]
    assert len(lines) == 1 and "double_signers=v0,v1" in lines[0] and f"theirs={cert_b.block_hash.hex()}" in lines[0]
    # Once halted, more proof changes nothing and logs nothing.
    assert watch.check(cert_b, None, peer=b"x", source="sync") and len(events) == 1
    assert fork_watch(theirs, enabled=False).check(cert_a, None, peer=b"", source="status") is False


def test_our_own_block_or_a_certificate_short_of_a_quorum_is_no_fork(two_chains):
    net, ours, theirs, (block_a, cert_a), (block_b, cert_b) = two_chains
    watch = fork_watch(ours)
    assert not watch.check(cert_a, block_a.header.encode(), peer=b"p", source="status")
    assert watch.checked == 0  # the same hash as ours costs no signature check
    k = net.keys
    short = certify(theirs, block_b, [k[0], k[3]])  # 2 of 4, quorum 3
    assert not watch.check(short, None, peer=b"p1", source="status")
    stranger = SUITE.generate_keypair()
    outsider = certify(theirs, block_b, [k[0], k[3], stranger])  # a vote from a non-validator
    assert not watch.check(outsider, None, peer=b"p2", source="status")
    good = certify(theirs, block_b, [k[0], k[1], k[3]])
    forged = CommitCertificate(good.chain_id, good.height, good.view, good.block_hash,
                               (*good.votes[:2], Vote(good.votes[2].validator, b"\x00" * 64)))
    assert not watch.check(forged, None, peer=b"p3", source="status")
    other_chain = CommitCertificate("elsewhere", good.height, good.view, good.block_hash, good.votes)
    assert not watch.check(other_chain, None, peer=b"p4", source="status")
    assert not watch.halted and load_evidence(ours.store) is None
    checked = watch.checked
    assert not watch.check(good, None, peer=b"p3", source="status")  # a peer just refused is not checked for a while
    assert watch.checked == checked
    assert watch.check(good, None, peer=b"p5", source="status")


def test_double_signers_are_the_validators_on_both_certificates(two_chains):
    net, ours, theirs, (_, cert_a), (_, cert_b) = two_chains
    assert double_signers(cert_a, cert_b) == (net.keys[0].public_bytes, net.keys[1].public_bytes)
    assert double_signers(cert_a, cert_a) == tuple(sorted(k.public_bytes for k in net.keys[:3]))


def test_two_peers_certificates_above_our_head_for_different_blocks_are_a_fork(tmp_path, two_chains):
    net, ours, theirs, (block_a, cert_a), (block_b, cert_b) = two_chains
    observer = Chain(net.genesis, ChainStore(tmp_path / "c"))  # at genesis: it committed neither
    try:
        watch = fork_watch(observer)
        assert not watch.check(cert_a, block_a.header.encode(), peer=b"peer-a", source="status")
        assert not watch.check(cert_a, None, peer=b"peer-a2", source="status")  # agreeing peers: nothing
        assert watch.check(cert_b, block_b.header.encode(), peer=b"peer-b", source="status")
        ev = watch.evidence
        assert ev is not None and not ev.committed and {ev.ours.block_hash, ev.theirs.block_hash} == {cert_a.block_hash, cert_b.block_hash}
    finally:
        observer.store.close()


def test_a_peer_head_above_ours_is_compared_once_we_commit_that_height(tmp_path, two_chains):
    net, ours, theirs, (block_a, cert_a), (block_b, cert_b) = two_chains
    late = Chain(net.genesis, ChainStore(tmp_path / "c"))
    try:
        watch = fork_watch(late)
        assert not watch.check(cert_b, block_b.header.encode(), peer=b"peer-b", source="status")  # above our head: kept
        late.commit(block_a, cert_a)  # we commit the other block at that height
        assert watch.halted and watch.evidence is not None and watch.evidence.committed
    finally:
        late.store.close()


def _admin_tx(net: Net, chain: Chain, proposal: str, pubkey: bytes) -> bytes:
    args = codec.encode({"type": proposal, "payload": {"pubkey": pubkey}, "reason": "test"})
    tx = Transaction(chain_id=chain.chain_id, nonce=SUITE.hash(pubkey + proposal.encode())[:16], expiry_height=100,
                     sender_pubkey=net.admin.public_bytes, to=address_of("committee"), method="propose", args=args, fuel_limit=1_000_000)
    return Transaction(**{**tx.to_map(), "signature": SUITE.sign(net.admin.private_bytes, tx.signing_bytes())}).encode()


def test_certificates_are_checked_against_the_validator_set_of_their_height(tmp_path):
    """The observer is promoted by block 2: height 2 is certified by the four genesis validators
    (quorum 3 of 4), height 3 on by five (quorum 4 of 5), and a past height is judged by its own set."""
    net = make_net()
    chain = Chain(net.genesis, ChainStore(tmp_path / "d"))
    try:
        k = net.keys
        seal(chain, net, k[:3])
        seal(chain, net, k[:3], txs=[_admin_tx(net, chain, "promote_validator", net.observer.public_bytes)])
        five = sorted([x.public_bytes for x in k] + [net.observer.public_bytes])
        assert chain.validators() == five
        assert validator_set(chain, 2) == [x.public_bytes for x in k]  # the set before the promotion
        assert validator_set(chain, 3) == five
        seal(chain, net, k[:4])
        watch = fork_watch(chain)
        # Another block 2, certified by 1, 2 and 3: 3 of height 2's four validators, a quorum there
        # (it would not be among today's five).
        other2 = Block(header=chain.store.get_header(2).__class__(**{**chain.store.get_header(2).to_map(), "timestamp_ms": 5}), txs=())
        # Another block 3, certified by 1, 2 and 3: 3 of height 3's five validators, short of 4.
        other3 = Block(header=chain.store.get_header(3).__class__(**{**chain.store.get_header(3).to_map(), "timestamp_ms": 6}), txs=())
        assert not watch.check(certify(chain, other3, [k[1], k[2], k[3]]), None, peer=b"p1", source="sync")
        assert watch.check(certify(chain, other2, [k[1], k[2], k[3]]), None, peer=b"p2", source="sync")
        assert watch.evidence is not None and watch.evidence.height == 2
    finally:
        chain.store.close()


def test_the_evidence_survives_a_restart_and_keeps_the_node_out(tmp_path, two_chains):
    net, ours, theirs, _, (block_b, cert_b) = two_chains
    fork_watch(ours).check(cert_b, block_b.header.encode(), peer=b"p", source="sync")
    path = ours.store.path
    ours.store.close()
    reopened = Chain(net.genesis, ChainStore(path))
    try:
        events: list[ForkDetected] = []
        reopened.bus.subscribe(ForkDetected, events.append)
        watch = fork_watch(reopened)
        assert watch.halted and watch.evidence is not None and watch.evidence.theirs.block_hash == cert_b.block_hash
        watch.restore()
        assert len(events) == 1 and events[0].restored
        summary = watch.summary()
        assert summary is not None and summary["double_signer_names"] == ["v0", "v1"]
    finally:
        reopened.store.close()
        ours.store = ChainStore(path)  # for the fixture's close


@dataclass
class FakeNet:
    sent: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    links: dict[bytes, Any] = field(default_factory=dict)

    def send(self, peer: bytes, msg: dict[str, Any]) -> bool:
        self.sent.append((peer, msg))
        return True

    def broadcast(self, msg: dict[str, Any], roles: tuple[str, ...] = ()) -> None:
        self.sent.append((b"*", msg))


def test_block_sync_checks_status_heads_and_stops_applying_once_halted(two_chains):
    net, ours, theirs, _, (block_b, cert_b) = two_chains
    watch = fork_watch(ours)
    sync = BlockSync(ours, FakeNet(), watch)  # type: ignore[arg-type]
    status = BlockSync(theirs, FakeNet()).status_message()  # type: ignore[arg-type]
    assert status["head"] == [block_b.header.encode(), cert_b.encode()]
    sync.on_status(b"peer", status)
    assert watch.halted and sync.halted
    sync.net.sent.clear()
    sync.on_status(b"peer", {"t": "status", "height": 50})
    assert sync.net.sent == []  # no more block requests


async def test_a_certified_block_that_does_not_extend_our_head_makes_sync_ask_for_ours(two_chains):
    net, ours, theirs, _, (block_b, cert_b) = two_chains
    k = net.keys
    block_c, cert_c = seal(theirs, net, [k[0], k[1], k[3]])  # their block 2, on their block 1
    fake = FakeNet()
    watch = fork_watch(ours)
    sync = BlockSync(ours, fake, watch)  # type: ignore[arg-type]
    await sync._apply(b"peer", [[block_c.encode(), cert_c.encode()]])
    assert (b"peer", {"t": "getblocks", "from": 1, "count": 1}) in fake.sent and ours.height == 1
    await sync._apply(b"peer", [[block_b.encode(), cert_b.encode()]])  # the answer: their block 1
    assert watch.halted and watch.evidence is not None and watch.evidence.source == "sync"


def test_clear_fork_archives_and_removes_the_evidence(tmp_path, two_chains, capsys):
    net, ours, theirs, _, (block_b, cert_b) = two_chains
    home = tmp_path / "home"
    (home / DATA_DIR).mkdir(parents=True)
    net.genesis.save(home / GENESIS_FILE)
    store = ChainStore(home / DATA_DIR)
    chain = Chain(net.genesis, store)
    chain.commit(*(lambda b: (b, ours.store.get_certificate(1)))(ours.store.get_block(1)))
    fork_watch(chain).check(cert_b, block_b.header.encode(), peer=b"p", source="status")
    store.close()
    assert cli(["node", "fork-info", "--home", str(home)]) == 0
    assert cert_b.block_hash.hex() in capsys.readouterr().out
    assert cli(["node", "clear-fork", "--home", str(home), "--height", "7"]) == 1  # the wrong height: refused
    assert "evidence is for height 1" in capsys.readouterr().err
    assert cli(["node", "clear-fork", "--home", str(home), "--height", "1"]) == 0
    archived = list(Path(home).glob("fork-evidence-1-*.json"))
    assert len(archived) == 1 and cert_b.block_hash.hex() in archived[0].read_text()
    store = ChainStore(home / DATA_DIR)
    try:
        assert load_evidence(store) is None
    finally:
        store.close()
    assert cli(["node", "clear-fork", "--home", str(home), "--height", "1"]) == 1  # nothing left to clear
