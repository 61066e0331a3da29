"""A validator's outgoing consensus traffic, made Byzantine: for tests on real processes only.

The validator runs the normal engine; what the engine broadcasts passes through ``Adversary.send``
instead of the peer layer's ``send_consensus``, which rewrites it per peer:

- ``equivocate``: every proposal and vote also exists in a second, conflicting version for the
  same height and view (a twin block: same parent, transactions and view, another timestamp; for
  a vote, the twin's hash). The validators are numbered in key order without us: the first gets
  both versions (so an honest node can prove the equivocation), the others alternate.
- ``invalid_proposal``: every proposal is replaced by an invalid block, one kind per peer in
  turn: a wrong state root, a transaction with a bad signature, a parent that does not exist,
  and more bytes of transactions than ``max_block_bytes`` (each transaction valid on its own).
- ``bad_signature``: every message has a corrupted signature, or names another validator as its
  sender (signed with our key), alternately.
- ``flood``: traffic unchanged; ``node.testing.flood`` sends the flood beside it.
- ``withhold``: nothing at all (no proposal, vote or view change), while it stays connected.
- ``collude``: with its partners (other colluding processes, named by key), split the honest
  validators in two and show each side its own block, voting for both (``node.testing.collusion``):
  with more than f colluders both sides commit, and the honest nodes must detect the fork.

With ``after_height`` it behaves until its messages are about a later height, so that a test
can let every link come up before the misbehaviour starts. Misbehaving messages are properly encoded and (except ``bad_signature``) properly signed by our
key: honest nodes can attribute each one to us.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from consensus.messages import sign_message
from consensus.pbft.messages import Commit, Prepare, PrePrepare
from consensus.registry import EngineSpec
from node.chain import Chain
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.p2p.transport import P2PNetwork
from node.testing.collusion import Collusion
from node.wire.types import Block, Transaction

log = logging.getLogger("consortia.byzantine")

EQUIVOCATE = "equivocate"
INVALID_PROPOSAL = "invalid_proposal"
BAD_SIGNATURE = "bad_signature"
FLOOD = "flood"
WITHHOLD = "withhold"
COLLUDE = "collude"
BEHAVIOURS = (EQUIVOCATE, INVALID_PROPOSAL, BAD_SIGNATURE, FLOOD, WITHHOLD, COLLUDE)

STATE_ROOT, BAD_TX, WRONG_PARENT, OVERSIZED = "state_root", "bad_tx", "wrong_parent", "oversized"
INVALID_VARIANTS = (STATE_ROOT, BAD_TX, WRONG_PARENT, OVERSIZED)

Outgoing = list[tuple[bytes, Any]]  # (peer, message) in sending order


@dataclass
class Adversary:
    behaviour: str
    chain: Chain
    key: KeyPair
    net: P2PNetwork
    spec: EngineSpec
    variants: tuple[str, ...] = INVALID_VARIANTS
    after_height: int = 0  # honest up to this height: the network settles (every link up) first
    collusion: Collusion | None = None  # with ``collude``
    done: Counter[str] = field(default_factory=Counter)  # what was sent, by kind of misbehaviour
    _twins: dict[bytes, bytes] = field(default_factory=dict)  # our block hash -> its equivocating twin's
    _invalid: dict[tuple[int, int, str], PrePrepare] = field(default_factory=dict)  # resends stay identical
    _logged: set[tuple[str, int, int]] = field(default_factory=set)

    def send(self, data: bytes) -> None:
        """The engine's broadcast of one encoded message: decoded, rewritten per peer, sent."""
        msg = self.spec.decode(data)
        for peer, out in self.outgoing(msg, self.peers()):
            self.net.send(peer, {"t": "cons", "m": self.spec.encode(out)})

    def peers(self) -> list[bytes]:
        """The other validators in key order (whether connected or not: positions stay fixed)."""
        return sorted(v for v in self.chain.validators() if v != self.key.public_bytes)

    def outgoing(self, msg: Any, peers: list[bytes]) -> Outgoing:
        if msg.height <= self.after_height:
            return [(p, msg) for p in peers]
        if self.behaviour == COLLUDE and self.collusion is not None:
            return self.collusion.outgoing(msg, peers)
        if self.behaviour == EQUIVOCATE and isinstance(msg, (PrePrepare, Prepare, Commit)):
            twin = self._twin(msg)
            if twin is not None:
                return self._split(msg, twin, peers)
        elif self.behaviour == INVALID_PROPOSAL and isinstance(msg, PrePrepare):
            return [(p, self._invalid_proposal(msg, self.variants[i % len(self.variants)])) for i, p in enumerate(peers)]
        elif self.behaviour == BAD_SIGNATURE:
            return [(p, self._bad_signature(msg, peers)) for p in peers]  # alternating kinds, peer by peer
        elif self.behaviour == WITHHOLD:
            self._note(f"withhold_{msg.kind}", msg.height, 0)
            return []
        return [(p, msg) for p in peers]

    def _note(self, what: str, height: int, view: int, detail: str = "") -> None:
        self.done[what] += 1
        if (what, height, view) not in self._logged:
            self._logged.add((what, height, view))
            log.warning("event=byzantine_misbehaviour behaviour=%s what=%s height=%d view=%d %s", self.behaviour, what,
                        height, view, detail)

    # --- equivocation -----------------------------------------------------------------------

    def _split(self, msg: Any, twin: Any, peers: list[bytes]) -> Outgoing:
        out: Outgoing = []
        for i, peer in enumerate(peers):
            if i == 0:
                out += [(peer, msg), (peer, twin)]
            else:
                out.append((peer, twin if i % 2 else msg))
        self._note(f"equivocate_{msg.kind}", msg.height, msg.view)
        return out

    def _twin(self, msg: PrePrepare | Prepare | Commit) -> Any:
        if isinstance(msg, PrePrepare):
            return self._twin_proposal(msg)
        twin_hash = self._twins.get(msg.block_hash) or hashlib.sha256(b"twin" + msg.block_hash).digest()
        return self._sign(replace(msg, block_hash=twin_hash, signature=b""))

    def _twin_proposal(self, msg: PrePrepare) -> PrePrepare | None:
        """Another valid block for the same height and view, on our twin of the parent if we made one."""
        block = Block.decode(msg.block)
        hdr = block.header
        real_hash = self.chain.suite.hash(hdr.encode())
        try:
            twin = self.chain.propose(height=hdr.height, view=hdr.view, proposer=hdr.proposer,
                                      timestamp_ms=hdr.timestamp_ms + 1, max_txs=max(1, len(block.txs)),
                                      parent_hash=self._twins.get(hdr.parent_hash, hdr.parent_hash))
        except ConsortiaError as exc:
            log.info("event=byzantine_no_twin height=%d reason=%r", hdr.height, exc.message)
            return None
        self._twins[real_hash] = twin.block_hash
        return self._sign(PrePrepare(msg.height, msg.view, twin.block.encode(), self.key.public_bytes))

    # --- invalid proposals -----------------------------------------------------------------

    def _invalid_proposal(self, msg: PrePrepare, variant: str) -> PrePrepare:
        cached = self._invalid.get((msg.height, msg.view, variant))
        if cached is not None:
            return cached
        block = Block.decode(msg.block)
        hdr = block.header
        if variant == STATE_ROOT:
            bad = Block(header=replace(hdr, state_root=b"\xee" * 32), txs=block.txs)
        elif variant == WRONG_PARENT:
            bad = Block(header=replace(hdr, parent_hash=hashlib.sha256(b"nowhere%d" % hdr.height).digest()), txs=block.txs)
        elif variant == BAD_TX:
            forged = self._transaction(hdr.height, b"")
            forged = replace(forged, signature=bytes([forged.signature[0] ^ 0xFF]) + forged.signature[1:])
            bad = Block(header=replace(hdr, tx_count=len(block.txs) + 1), txs=(*block.txs, forged))
        elif variant == OVERSIZED:
            params = self.chain.params()
            pad = params.max_tx_bytes - 1024  # each transaction within max_tx_bytes; together over max_block_bytes
            txs = tuple(self._transaction(hdr.height, secrets.token_bytes(pad)) for _ in range(params.max_block_bytes // pad + 1))
            bad = Block(header=replace(hdr, tx_count=len(txs)), txs=txs)
        else:
            raise ValueError(f"unknown invalid-proposal variant {variant!r}")
        out = self._sign(PrePrepare(msg.height, msg.view, bad.encode(), self.key.public_bytes))
        self._invalid[(msg.height, msg.view, variant)] = out
        self._note(f"invalid_proposal_{variant}", msg.height, msg.view, f"bytes={len(out.block)}")
        return out

    def _transaction(self, height: int, args: bytes) -> Transaction:
        """A transaction from our key, correctly signed (the variants spoil it as they need)."""
        tx = Transaction(chain_id=self.chain.chain_id, nonce=secrets.token_bytes(16), expiry_height=height + 100,
                         sender_pubkey=self.key.public_bytes, to=bytes(20), method="noop", args=args, fuel_limit=1_000)
        return replace(tx, signature=self.chain.suite.sign(self.key.private_bytes, tx.signing_bytes()))

    # --- signatures ------------------------------------------------------------------------

    def _bad_signature(self, msg: Any, peers: list[bytes]) -> Any:
        n = sum(self.done.values())
        if n % 2 == 0 or not peers:
            sig = bytearray(msg.signature)
            sig[len(sig) // 2] ^= 0x5A
            self._note("bad_signature_corrupted", msg.height, 0, f"kind={msg.kind}")
            return replace(msg, signature=bytes(sig))
        self._note("bad_signature_forged_sender", msg.height, 0, f"kind={msg.kind}")
        return replace(msg, sender=peers[n % len(peers)])  # still signed by us: verifies for nobody

    def _sign(self, msg: Any) -> Any:
        return sign_message(self.chain.suite, self.key.private_bytes, self.chain.chain_id, msg)
