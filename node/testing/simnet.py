"""A deterministic simulated network that drives the real PBFT code without sockets.

Time is simulated; every delivery, timer and catch-up is an event in one priority queue ordered by
(time, sequence), and all randomness comes from one seeded ``random.Random``, so a seed replays
exactly. Each node is a real ``Chain`` on a real LevelDB store with a real consensus core (PBFT or Raft); messages
cross the "network" as encoded bytes and are decoded on arrival, like on a socket.

Faults: per-link drops, duplicates, delays (hence reordering), partitions, crashes and restarts
(state survives in the store, in-memory state does not), and Byzantine behaviours -- a silent
node, a node whose signatures are garbage, an equivocating primary, a primary that proposes
invalid blocks, and colluding validators that split the honest ones (``collude``,
``node.testing.collusion``: more than f of them fork the chain).

Every node runs a ``ForkWatch`` (node.forkwatch) like a real one: catch-up (``sync``) shows it
each reachable peer's head certificate and the peer's block at our own height, as the status
announcements and block sync answers of the real peer layer do; a node that detects a fork
stops its engine and applies nothing more.
"""

from __future__ import annotations

import heapq
import random
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from consensus.api import ConsensusCore
from consensus.certificate import verify_certificate
from consensus.pbft.messages import ConsensusMessage, PrePrepare, sign_message
from consensus.raft.core import RaftCore
from consensus.registry import engine_spec
from node.chain import Chain
from node.crypto import get_suite
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.events import BlockCommitted, ForkDetected
from node.execution.system.registry import address_of
from node.forkwatch import ForkWatch
from node.genesis import Genesis, GenesisNode
from node.store.chainstore import ChainStore
from node.testing.collusion import Collusion
from node.wire import codec
from node.wire.types import Block, BlockHeader, Transaction

SYSCONFIG = address_of("sysconfig")
STATUS_INTERVAL_MS = 1_000
COMMITTEE = address_of("committee")

HONEST = "honest"
SILENT = "silent"
BAD_SIGNATURES = "bad_signatures"
EQUIVOCATE = "equivocate"
INVALID_PROPOSALS = "invalid_proposals"
COLLUDE = "collude"


@dataclass
class LinkFaults:
    drop: float = 0.0
    duplicate: float = 0.0
    min_delay_ms: int = 5
    max_delay_ms: int = 50


class SimEnv:
    """The ConsensusEnv of one simulated node."""

    def __init__(self, net: SimNetwork, node: SimNode) -> None:
        self.net = net
        self.node = node
        self._timer_tokens: dict[str, int] = {}

    def now_ms(self) -> int:
        return self.net.time_ms

    def broadcast(self, msg: ConsensusMessage) -> None:
        self.net.send_from(self.node, msg)

    def set_timer(self, name: str, delay_ms: int, callback: Callable[[], None]) -> None:
        token = self._timer_tokens.get(name, 0) + 1
        self._timer_tokens[name] = token
        epoch = self.node.epoch

        def fire() -> None:
            if self._timer_tokens.get(name) == token and self.node.up and self.node.epoch == epoch:
                callback()

        self.net.schedule(delay_ms, fire)

    def cancel_timer(self, name: str) -> None:
        self._timer_tokens[name] = self._timer_tokens.get(name, 0) + 1

    def request_sync(self, target_height: int, hint: bytes | None) -> None:
        self.net.schedule(self.net.rng.randint(5, 30), lambda: self.net.sync(self.node))

    def peer_behind(self, peer: bytes, height: int) -> None:
        behind = self.net.by_key.get(peer)
        if behind is not None and self.net._linked(self.node.index, behind.index):
            self.net.schedule(self.net.rng.randint(5, 30), lambda: self.net.sync(behind))

    def view_changed(self, view: int, height: int) -> None:
        self.node.views_entered.append((view, height))


@dataclass
class SimNode:
    index: int
    name: str
    key: KeyPair
    home: Path
    behaviour: str = HONEST
    chain: Chain | None = None
    store: ChainStore | None = None
    core: ConsensusCore | None = None  # tests read engine-specific fields (view, role, dropped) from it
    up: bool = False
    epoch: int = 0
    committed: dict[int, bytes] = field(default_factory=dict)
    views_entered: list[tuple[int, int]] = field(default_factory=list)  # (view, height) as reported to the env
    list_cache: tuple[int, frozenset[bytes]] | None = None  # (height, keys of its committed node list)
    forks: ForkWatch | None = None
    collusion: Collusion | None = None  # with behaviour COLLUDE
    fork_events: list[ForkDetected] = field(default_factory=list)
    committed_after_fork: list[int] = field(default_factory=list)  # heights committed once a fork was known: must stay empty


class SimNetwork:
    def __init__(
        self,
        root: Path,
        *,
        seed: int,
        validators: int = 4,
        suite: str = "std",
        faults: LinkFaults | None = None,
        behaviours: dict[int, str] | None = None,
        params: dict[str, int] | None = None,
        engine: str = "pbft",
        status_ticker: bool = False,
        fork_detection: bool = True,
        colluders: int = 0,
        after_height: int = 0,
    ) -> None:
        self.root = Path(root)
        self.fork_detection = fork_detection  # off only to show that the fork tests fail without it
        self.after_height = after_height  # colluders behave up to this height
        self.engine = engine
        self.spec = engine_spec(engine)
        self.rng = random.Random(seed)
        self.suite = get_suite(suite)
        self.faults = faults or LinkFaults()
        self.time_ms = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.partitions: list[set[int]] | None = None
        self.delivered = 0
        self.dropped = 0
        # Deterministic keys: derived from the seed, not from the OS RNG.
        keys = [self.suite.keypair_from_private(self._secret(i)) for i in range(validators)]
        self.admin = self.suite.keypair_from_private(self._secret(1000))
        self.genesis = Genesis(
            chain_id="sim",
            suite=suite,
            consensus=engine,
            timestamp_ms=0,
            nodes=tuple(GenesisNode(f"v{i}", "validator", k.public_bytes, "127.0.0.1", 1 + i) for i, k in enumerate(keys)),
            admins=(self.suite.address(self.admin.public_bytes),),
            params={"block_interval_ms": 200, "min_seal_ms": 10, "consensus_timeout_ms": 500, "tx_expiry_window": 100_000,
                    **(params or {})},
        )
        behaviours = dict(behaviours or {})
        # ``colluders``: the primary of view 0 (the smallest key) and the next ones in key order.
        for i in sorted(range(validators), key=lambda i: keys[i].public_bytes)[:colluders]:
            behaviours[i] = COLLUDE
        self.nodes = [
            SimNode(i, f"v{i}", k, self.root / f"v{i}", behaviour=behaviours.get(i, HONEST)) for i, k in enumerate(keys)
        ]
        self.by_key = {n.key.public_bytes: n for n in self.nodes}
        self.status_ticker = status_ticker
        self.conflicts: list[tuple[int, bytes, bytes]] = []
        self.decided: dict[int, bytes] = {}
        # The validator set each height was decided by, as every node read it from the parent
        # state when it committed the block below; two nodes that disagree are a bug too.
        self.validator_sets: dict[int, frozenset[bytes]] = {1: frozenset(k.public_bytes for k in keys)}
        self.set_conflicts: list[int] = []
        for n in self.nodes:
            self.start(n)

    def _secret(self, i: int) -> bytes:
        while True:
            candidate = self.rng.getrandbits(256).to_bytes(32, "big")
            try:
                self.suite.keypair_from_private(candidate)
                return candidate
            except ConsortiaError:
                continue

    # --- events ----------------------------------------------------------------------------

    def schedule(self, delay_ms: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.time_ms + max(0, int(delay_ms)), self._seq, action))

    def run_for(self, ms: int) -> None:
        self.run_until(lambda: False, ms)

    def run_until(self, done: Callable[[], bool], max_ms: int) -> bool:
        deadline = self.time_ms + max_ms
        while self._queue and not done():
            t, _, action = self._queue[0]
            if t > deadline:
                break
            heapq.heappop(self._queue)
            self.time_ms = t
            action()
        if not done():
            self.time_ms = max(self.time_ms, deadline)
            return False
        return True

    # --- nodes -----------------------------------------------------------------------------

    def add_node(self) -> SimNode:
        """A new node that is not in genesis (as ``consortia net add-node`` makes one): it starts,
        but no one links to it until a committed block admits it to the node list."""
        i = len(self.nodes)
        node = SimNode(i, f"v{i}", self.suite.keypair_from_private(self._secret(i)), self.root / f"v{i}")
        self.nodes.append(node)
        self.by_key[node.key.public_bytes] = node
        self.start(node)
        return node

    def start(self, node: SimNode) -> None:
        node.store = ChainStore(node.home / "data")
        node.chain = Chain(self.genesis, node.store)
        node.epoch += 1
        node.up = True
        node.list_cache = None
        node.chain.bus.subscribe(BlockCommitted, partial(self._on_commit, node))
        node.forks = ForkWatch(node.chain, self.spec.quorum, clock=lambda: self.time_ms / 1000, enabled=self.fork_detection)
        node.chain.bus.subscribe(ForkDetected, partial(self._on_fork, node))
        if node.behaviour == COLLUDE:
            partners = frozenset(n.key.public_bytes for n in self.nodes if n.behaviour == COLLUDE and n is not node)
            node.collusion = Collusion(node.chain, node.key, partners, self.after_height)
        if self.engine == "raft":  # Raft's election timers are randomised: seeded here, so a seed replays
            node.core = RaftCore(node.chain, node.key, SimEnv(self, node), seed=self.rng.getrandbits(32))
        else:
            node.core = self.spec.make_core(node.chain, node.key, SimEnv(self, node))
        node.forks.restore()  # evidence from before a restart: the engine stays stopped
        if not node.forks.halted:
            node.core.start()
        if node.chain.height > 0:
            self.schedule(1, lambda: self.sync(node))
        if self.status_ticker:
            self._status_ticker(node, node.epoch)

    def _status_ticker(self, node: SimNode, epoch: int) -> None:
        """Like the real node's status announcements: every second a node catches up from a
        linked peer that is ahead. This is how a node outside consensus (a node waiting for
        admission, an observer, one just promoted) follows the chain. Only when asked for (the
        membership tests), so the timing of the older simulations stays as it was."""
        if not node.up or node.epoch != epoch:
            return
        self.sync(node)
        self.schedule(STATUS_INTERVAL_MS, lambda: self._status_ticker(node, epoch))

    def crash(self, i: int) -> None:
        node = self.nodes[i]
        if not node.up:
            return
        node.up = False
        node.epoch += 1
        assert node.core and node.store
        node.core.stop()
        node.store.close()
        node.core = node.chain = node.store = None

    def restart(self, i: int) -> None:
        if not self.nodes[i].up:
            self.start(self.nodes[i])

    def wipe(self, i: int) -> None:
        """Crash and lose the disk: the node will rebuild from genesis by catch-up."""
        self.crash(i)
        shutil.rmtree(self.nodes[i].home, ignore_errors=True)

    def _on_fork(self, node: SimNode, event: ForkDetected) -> None:
        node.fork_events.append(event)
        if node.core is not None:
            node.core.stop()

    def _on_commit(self, node: SimNode, c: BlockCommitted) -> None:
        h = c.block.height
        if node.forks is not None and node.forks.halted:
            node.committed_after_fork.append(h)
        node.committed[h] = c.block_hash
        seen = self.decided.setdefault(h, c.block_hash)
        if seen != c.block_hash:
            self.conflicts.append((h, seen, c.block_hash))
        assert node.chain is not None
        following = frozenset(node.chain.validators())
        if self.validator_sets.setdefault(h + 1, following) != following:
            self.set_conflicts.append(h + 1)

    # --- links follow the node lists ---------------------------------------------------------

    def node_list(self, node: SimNode) -> frozenset[bytes]:
        """The keys in ``node``'s committed node list (empty while it is down)."""
        if node.chain is None:
            return frozenset()
        height = node.chain.height
        if node.list_cache is None or node.list_cache[0] != height:
            node.list_cache = (height, frozenset(n.pubkey for n in node.chain.nodes()))
        return node.list_cache[1]

    def can_link(self, a: SimNode, b: SimNode) -> bool:
        """As the peer handshake decides: each side's committed node list names the other."""
        return b.key.public_bytes in self.node_list(a) and a.key.public_bytes in self.node_list(b)

    # --- network ---------------------------------------------------------------------------

    def partition(self, *groups: set[int]) -> None:
        self.partitions = [set(g) for g in groups]

    def heal(self) -> None:
        self.partitions = None

    def _linked(self, a: int, b: int) -> bool:
        if self.partitions is None:
            return True
        return any(a in g and b in g for g in self.partitions)

    def send_from(self, sender: SimNode, msg: ConsensusMessage) -> None:
        if sender.behaviour == SILENT:
            return
        assert sender.chain is not None
        validators = set(sender.chain.validators())  # consensus frames go to validator links only
        for receiver in self.nodes:
            if receiver is sender or receiver.key.public_bytes not in validators or not self.can_link(sender, receiver):
                continue
            out = msg
            if sender.collusion is not None:
                for _, rewritten in sender.collusion.outgoing(msg, [receiver.key.public_bytes]):
                    self._transmit(sender, receiver, self.spec.encode(rewritten))
                continue
            if sender.behaviour == BAD_SIGNATURES:
                out = _corrupt_signature(msg)
            elif sender.behaviour == EQUIVOCATE and isinstance(msg, PrePrepare) and receiver.index % 2 == 0:
                out = self._alternative_proposal(sender, msg)
            elif sender.behaviour == INVALID_PROPOSALS and isinstance(msg, PrePrepare):
                out = self._invalid_proposal(sender, msg)
            self._transmit(sender, receiver, self.spec.encode(out))

    def _transmit(self, sender: SimNode, receiver: SimNode, data: bytes) -> None:
        f = self.faults
        copies = 1
        if self.rng.random() < f.drop or not self._linked(sender.index, receiver.index):
            self.dropped += 1
            return
        if self.rng.random() < f.duplicate:
            copies = 2
        for _ in range(copies):
            delay = self.rng.randint(f.min_delay_ms, f.max_delay_ms)
            self.schedule(delay, partial(self._deliver, sender.index, receiver, data))

    def _deliver(self, sender_index: int, receiver: SimNode, data: bytes) -> None:
        if not receiver.up or not self._linked(sender_index, receiver.index) or receiver.core is None:
            return
        if not self.can_link(receiver, self.nodes[sender_index]):
            return  # the receiver closed the link when a block removed the sender
        self.delivered += 1
        try:
            msg = self.spec.decode(data)
        except ConsortiaError:
            return
        if receiver.collusion is not None:
            receiver.collusion.observe(msg)
        receiver.core.on_message(msg)

    def _alternative_proposal(self, sender: SimNode, msg: PrePrepare) -> PrePrepare:
        assert sender.chain is not None
        block = Block.decode(msg.block)
        hdr = block.header
        # Same transactions, another timestamp: a different but valid block (true equivocation).
        other = sender.chain.propose(height=hdr.height, view=hdr.view, proposer=hdr.proposer,
                                     timestamp_ms=hdr.timestamp_ms + 1, max_txs=len(block.txs) or 1,
                                     parent_hash=hdr.parent_hash)
        alt = PrePrepare(msg.height, msg.view, other.block.encode(), sender.key.public_bytes)
        return sign_message(self.suite, sender.key.private_bytes, self.genesis.chain_id, alt)

    def _invalid_proposal(self, sender: SimNode, msg: PrePrepare) -> PrePrepare:
        block = Block.decode(msg.block)
        bad_header = BlockHeader(**{**block.header.to_map(), "state_root": b"\xee" * 32})
        bad = PrePrepare(msg.height, msg.view, Block(header=bad_header, txs=block.txs).encode(), sender.key.public_bytes)
        return sign_message(self.suite, sender.key.private_bytes, self.genesis.chain_id, bad)

    # --- catch-up --------------------------------------------------------------------------

    def sync(self, node: SimNode) -> None:
        """Fetch certified blocks from a reachable peer that is ahead, verify and commit them."""
        if not node.up or node.chain is None or node.core is None or node.forks is None or node.forks.halted:
            return
        peers = [p for p in self.nodes if p.up and p is not node and p.chain is not None and self._linked(p.index, node.index)
                 and self.can_link(node, p)]
        self.rng.shuffle(peers)
        for peer in peers:
            if self._shows_fork(node, peer):
                return
        for peer in peers:
            assert peer.chain is not None
            while node.chain.height < peer.chain.height and not node.forks.halted:
                h = node.chain.height + 1
                block = peer.chain.store.get_block(h)
                cert = peer.chain.store.get_certificate(h)
                if block is None or cert is None:
                    break
                try:
                    block_hash = node.chain.suite.hash(block.header.encode())
                    validators = node.chain.validators()
                    verify_certificate(node.chain.suite, cert, chain_id=node.chain.chain_id, height=h,
                                       block_hash=block_hash, validators=validators,
                                       quorum=self.spec.quorum(len(validators)))
                    node.chain.commit(block, cert)
                except ConsortiaError:
                    break
        node.core.advance()

    def _shows_fork(self, node: SimNode, peer: SimNode) -> bool:
        """What the peer layer shows a node's fork watch: the peer's head (its status) and the
        peer's block at our own height (what block sync asks for when a certified block does
        not extend our head). True once the node knows of a fork."""
        assert node.chain is not None and peer.chain is not None and node.forks is not None
        for h in {peer.chain.height, min(node.chain.height, peer.chain.height)}:
            cert, header = peer.chain.store.get_certificate(h), peer.chain.store.get_header(h)
            if h >= 1 and cert is not None and header is not None:
                node.forks.check(cert, header.encode(), peer=peer.key.public_bytes, source="status" if h == peer.chain.height else "sync")
        return node.forks.halted

    # --- load ------------------------------------------------------------------------------

    def change_node_list(self, proposal: str, node: SimNode) -> list[bytes]:
        """A committee proposal about ``node`` (``admit_observer``, ``promote_validator``,
        ``demote_validator``, ``remove_node``), gossiped: the simulator's committee is the admin
        alone, so the proposal passes and executes in the block that includes it."""
        payload: dict[str, Any] = {"pubkey": node.key.public_bytes}
        if proposal == "admit_observer":
            payload |= {"name": node.name, "host": "127.0.0.1", "p2p_port": 1 + node.index}
        args = codec.encode({"type": proposal, "payload": payload, "reason": f"{proposal} {node.name}"})
        return self._gossip(self._admin_tx(COMMITTEE, "propose", args))

    def _admin_tx(self, to: bytes, method: str, args: bytes) -> bytes:
        tx = Transaction(
            chain_id=self.genesis.chain_id,
            nonce=self.rng.getrandbits(128).to_bytes(16, "big"),
            expiry_height=90_000,
            sender_pubkey=self.admin.public_bytes,
            to=to,
            method=method,
            args=args,
            fuel_limit=1_000_000,
        )
        return Transaction(**{**tx.to_map(), "signature": self.suite.sign(self.admin.private_bytes, tx.signing_bytes())}).encode()

    def _gossip(self, raw: bytes) -> list[bytes]:
        hashes = []
        for n in self.nodes:
            if n.up and n.chain is not None:
                try:
                    hashes.append(n.chain.submit(raw))
                except ConsortiaError:
                    pass
                if n.core is not None:
                    n.core.on_transactions()
        return hashes

    def submit(self, count: int = 1, param: str = "block_tx_limit", pad_bytes: int = 0) -> list[bytes]:
        """Signed admin transactions setting ``param`` to random values (set_param proposals the
        one-member committee passes at once), gossiped to every node that is up (as tx forwarding
        would). With ``pad_bytes`` they are instead ``sysconfig.get`` calls padded that much: a
        proposal's arguments have no room for padding, and only their size matters then."""
        hashes = []
        for _ in range(count):
            value = self.rng.randint(1_000, 50_000)
            if pad_bytes:
                to, method, args = SYSCONFIG, "get", codec.encode({"key": param, "pad": b"x" * pad_bytes})
            else:
                to, method = COMMITTEE, "propose"
                args = codec.encode({"type": "set_param", "payload": {"key": param, "value": value}})
            hashes += self._gossip(self._admin_tx(to, method, args))
        return hashes

    def steady_load(self, every_ms: int = 20, count: int = 2) -> Callable[[], None]:
        """Submit ``count`` transactions every ``every_ms`` until the returned function is called:
        a stream that keeps a pipelining primary several heights ahead."""
        running = [True]

        def tick() -> None:
            if running[0]:
                self.submit(count)
                self.schedule(every_ms, tick)

        self.schedule(every_ms, tick)
        return lambda: running.__setitem__(0, False)

    # --- observations ----------------------------------------------------------------------

    def heights(self) -> list[int]:
        return [n.chain.height if n.up and n.chain else -1 for n in self.nodes]

    def honest(self) -> list[SimNode]:
        return [n for n in self.nodes if n.behaviour == HONEST]

    def min_honest_height(self) -> int:
        return min(n.chain.height for n in self.honest() if n.up and n.chain)

    def close(self) -> None:
        for n in self.nodes:
            if n.up and n.store is not None:
                n.store.close()
                n.up = False


def _corrupt_signature(msg: ConsensusMessage) -> ConsensusMessage:
    from dataclasses import replace

    sig = bytearray(msg.signature)
    sig[0] ^= 0xFF
    return replace(msg, signature=bytes(sig))


__all__ = [
    "BAD_SIGNATURES",
    "COLLUDE",
    "EQUIVOCATE",
    "HONEST",
    "INVALID_PROPOSALS",
    "LinkFaults",
    "SILENT",
    "SimNetwork",
    "secrets",
]
