"""Raft for crash-fault-tolerant consortia: a leader replicates one block at a time to a majority.

The log is the committed chain plus at most one pending entry (the next block). Terms, votes and
the pending entry are persisted before any reply that depends on them, so a restarted node keeps
its promises. The rules:

- **Election.** A follower that hears no leader for a randomised timeout becomes a candidate
  (term + 1, votes for itself) and asks for votes. A node grants one vote per term, and only to a
  candidate whose last entry (term, height) is at least as recent as its own. A majority of
  votes makes a leader.
- **Replication.** The leader executes a block on its committed state and sends it in an
  ``Append``; a follower re-executes it, stores it as its pending entry and answers with an
  ``Ack`` signed over the block hash. A majority of acks is the block's commit certificate
  (majority quorum, the term in the certificate's view); the leader commits and sends the
  certificate with its next ``Append``, and followers commit their pending entry with it.
- **Failover.** A new leader first re-replicates its own pending entry, if any, under its term:
  if that entry was acknowledged by a majority it is on every possible new leader (the vote rule),
  so a committed block is never replaced.

Raft tolerates crashed nodes (a majority must be up), not lying ones: use PBFT for that.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import msgpack

from consensus.api import Application, ConsensusEnv
from consensus.certificate import majority_quorum, verify_certificate
from consensus.messages import M
from consensus.raft.messages import (
    Ack,
    Append,
    PreVote,
    PreVoteRequest,
    RaftMessage,
    RequestVote,
    Vote,
    sign_message,
    verify_message,
)
from consensus.timers import ProposalTimer
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.wire.types import Block, CommitCertificate
from node.wire.types import Vote as CertVote

log = logging.getLogger("consortia.raft")

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


class RaftCore:
    def __init__(self, app: Application, key: KeyPair, env: ConsensusEnv, *, seed: int | None = None) -> None:
        import random

        self.app = app
        self.key = key
        self.env = env
        self.suite = app.suite
        self.chain_id = app.chain_id
        self.store = app.store
        self.rng = random.Random(seed if seed is not None else int.from_bytes(key.public_bytes[-8:], "big"))
        self.role = FOLLOWER
        self.leader: bytes | None = None
        self.term, self.voted_for = self._load_term()
        self.pending: tuple[int, bytes] | None = self._load_pending()  # (term, encoded block)
        self.votes: set[bytes] = set()
        self.pre_votes: set[bytes] = set()
        self.pre_vote_term = 0
        self.leader_seen_ms = 0  # when we last heard an Append from the leader of our term
        self.acks: dict[tuple[int, int, bytes], dict[bytes, Ack]] = defaultdict(dict)
        self.last_cert: bytes = b""
        self.dropped: dict[str, int] = defaultdict(int)
        self.elections = 0
        self.stopped = False
        self.member = key.public_bytes in self.validators  # in the validator set of the next height
        self.proposal_timer = ProposalTimer(env, self._propose)

    # --- persistence -----------------------------------------------------------------------

    def _load_term(self) -> tuple[int, bytes | None]:
        raw = self.store.meta_get("raft.term")
        if raw is None:
            return 0, None
        data = msgpack.unpackb(raw)
        return int(data["term"]), data.get("vote")

    def _save_term(self) -> None:
        self.store.meta_put("raft.term", msgpack.packb({"term": self.term, "vote": self.voted_for}))

    def _load_pending(self) -> tuple[int, bytes] | None:
        raw = self.store.meta_get("raft.pending")
        if not raw:
            return None
        data = msgpack.unpackb(raw)
        return int(data["term"]), bytes(data["block"])

    def _save_pending(self) -> None:
        value = b"" if self.pending is None else msgpack.packb({"term": self.pending[0], "block": self.pending[1]})
        self.store.meta_put("raft.pending", value)

    # --- membership ------------------------------------------------------------------------

    @property
    def validators(self) -> list[bytes]:
        return self.app.validators()

    @property
    def quorum(self) -> int:
        return majority_quorum(len(self.validators))

    def _follow_membership(self) -> None:
        """After a commit: the validator set for the next height may have changed. A node that
        joined starts its election timer (it follows the leader's heartbeats from now on); one
        that was demoted or removed steps down and stays silent, leader or not."""
        member = self.key.public_bytes in self.validators
        if member == self.member:
            return
        self.member = member
        log.info("event=raft_membership height=%d validator=%s", self.app.head().height + 1, member)
        if member:
            self._reset_election_timer()
            return
        self.role = FOLLOWER
        self.leader = None
        self.proposal_timer.cancel()
        for name in ("election", "heartbeat"):
            self.env.cancel_timer(name)

    def _sign(self, msg: M) -> M:
        return sign_message(self.suite, self.key.private_bytes, self.chain_id, msg)

    def _pending_block(self) -> tuple[int, Block, bytes] | None:
        """The pending entry if it is the next block on our chain (else it is obsolete)."""
        if self.pending is None:
            return None
        term, encoded = self.pending
        block = Block.decode(encoded)
        if block.height != self.app.head().height + 1:
            self.pending = None
            self._save_pending()
            return None
        return term, block, encoded

    def _last_entry(self) -> tuple[int, int]:
        pend = self._pending_block()
        if pend is not None:
            return pend[0], pend[1].height
        head = self.app.head()
        cert = self.store.get_certificate(head.height)
        return (cert.view if cert is not None else 0), head.height

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if len(self.validators) == 1 and self.key.public_bytes in self.validators:
            self._become_leader()
        else:
            self._reset_election_timer()

    def stop(self) -> None:
        self.stopped = True
        for name in ("election", "heartbeat", "propose"):
            self.env.cancel_timer(name)

    def status(self) -> dict[str, Any]:
        return {
            "engine": "raft",
            "role": self.role,
            "term": self.term,
            "view": self.term,
            "leader": None if self.leader is None else "0x" + self.leader.hex(),
            "primary": None if self.leader is None else "0x" + self.leader.hex(),
            "validators": len(self.validators),
            "elections": self.elections,
            "view_changes": self.elections,
            "dropped": dict(self.dropped),
        }

    def _timeout_ms(self) -> int:
        return self.app.params().consensus_timeout_ms

    def _reset_election_timer(self) -> None:
        if self.stopped or self.key.public_bytes not in self.validators:
            return
        base = self._timeout_ms()
        self.env.set_timer("election", base + self.rng.randint(0, base), self._on_election_timeout)

    # --- messages --------------------------------------------------------------------------

    def on_message(self, msg: RaftMessage) -> None:
        if self.stopped:
            return
        if msg.sender not in self.validators:
            self.dropped["non_validator"] += 1
            return
        if not verify_message(self.suite, self.chain_id, msg):
            self.dropped["bad_signature"] += 1
            return
        if isinstance(msg, (PreVoteRequest, PreVote)):  # a proposed term: never adopted, never a step-down
            self._on_pre_vote_message(msg)
            return
        if msg.term < self.term:
            self.dropped["stale_term"] += 1
            if isinstance(msg, Append):  # an old leader: tell it about the new term
                self.env.peer_behind(msg.sender, msg.height)
            return
        if msg.term > self.term:
            self._step_down(msg.term)
        try:
            if isinstance(msg, RequestVote):
                self._on_request_vote(msg)
            elif isinstance(msg, Vote):
                self._on_vote(msg)
            elif isinstance(msg, Append):
                self._on_append(msg)
            elif isinstance(msg, Ack):
                self._on_ack(msg)
        except ConsortiaError as exc:
            self.dropped["invalid"] += 1
            log.info("event=raft_message_rejected kind=%s reason=%r", msg.kind, exc.message)

    def _step_down(self, term: int) -> None:
        self.term = term
        self.voted_for = None
        self._save_term()
        self.env.view_changed(term, self.app.head().height + 1)
        if self.role != FOLLOWER:
            log.info("event=raft_step_down term=%d", term)
        self.role = FOLLOWER
        self.leader = None
        self.env.cancel_timer("heartbeat")
        self.proposal_timer.cancel()
        self._reset_election_timer()

    # --- election --------------------------------------------------------------------------

    def _on_election_timeout(self) -> None:
        """No leader heard for a whole timeout: first ask whether a majority would vote for us."""
        if self.stopped or self.role == LEADER or not self.member:
            return
        last_term, last_height = self._last_entry()
        self.pre_votes = {self.key.public_bytes}
        self.pre_vote_term = self.term + 1
        self.env.broadcast(self._sign(PreVoteRequest(self.pre_vote_term, last_term, last_height, self.key.public_bytes)))
        self._reset_election_timer()
        if len(self.pre_votes) >= self.quorum:
            self._start_election()

    def _on_pre_vote_message(self, msg: PreVoteRequest | PreVote) -> None:
        if isinstance(msg, PreVote):
            if msg.candidate == self.key.public_bytes and msg.term == self.pre_vote_term and msg.term == self.term + 1:
                self.pre_votes.add(msg.sender)
                if len(self.pre_votes) >= self.quorum and self.role != LEADER:
                    self._start_election()
            return
        heard_recently = self.leader is not None and self.env.now_ms() - self.leader_seen_ms < self._timeout_ms()
        up_to_date = (msg.last_term, msg.last_height) >= self._last_entry()
        if msg.term > self.term and up_to_date and not heard_recently and self.role != LEADER:
            self.env.broadcast(self._sign(PreVote(msg.term, msg.sender, self.key.public_bytes)))

    def _start_election(self) -> None:
        self.pre_votes = set()
        self.term += 1
        self.voted_for = self.key.public_bytes
        self._save_term()
        self.role = CANDIDATE
        self.leader = None
        self.votes = {self.key.public_bytes}
        self.elections += 1
        last_term, last_height = self._last_entry()
        log.info("event=raft_election term=%d", self.term)
        self.env.broadcast(self._sign(RequestVote(self.term, last_term, last_height, self.key.public_bytes)))
        self._reset_election_timer()
        if len(self.votes) >= self.quorum:
            self._become_leader()

    def _on_request_vote(self, msg: RequestVote) -> None:
        mine = self._last_entry()
        up_to_date = (msg.last_term, msg.last_height) >= mine
        grant = up_to_date and self.voted_for in (None, msg.sender)
        if grant:
            self.voted_for = msg.sender
            self._save_term()  # persisted before the vote leaves this node
            self._reset_election_timer()
        self.env.broadcast(self._sign(Vote(self.term, msg.sender, grant, self.key.public_bytes)))

    def _on_vote(self, msg: Vote) -> None:
        if self.role != CANDIDATE or msg.candidate != self.key.public_bytes or not msg.granted or msg.term != self.term:
            return
        self.votes.add(msg.sender)
        if len(self.votes) >= self.quorum:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader = self.key.public_bytes
        self.env.cancel_timer("election")
        self.env.view_changed(self.term, self.app.head().height + 1)
        log.info("event=raft_leader term=%d height=%d", self.term, self.app.head().height + 1)
        pend = self._pending_block()
        if pend is not None:
            # Carry our pending entry forward under this term before anything new.
            self._replicate(pend[2], pend[1])
        else:
            self.proposal_timer.schedule(0 if self.term > 1 else self.app.params().block_interval_ms)
        self._heartbeat()

    # --- leader ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        if self.stopped or self.role != LEADER:
            return
        pend = self._pending_block()
        block = pend[2] if pend is not None and pend[0] == self.term else b""
        msg = self._sign(Append(self.term, self.app.head().height + 1, block, self.last_cert, self.key.public_bytes))
        self.env.broadcast(msg)
        self.env.set_timer("heartbeat", max(50, self._timeout_ms() // 4), self._heartbeat)

    def on_transactions(self) -> None:
        if self.role == LEADER and self._pending_block() is None:
            self.proposal_timer.schedule(self.app.params().min_seal_ms)

    def _propose(self) -> None:
        if self.stopped or self.role != LEADER or self._pending_block() is not None:
            return
        head = self.app.head()
        proposal = self.app.propose(
            height=head.height + 1,
            view=self.term,
            proposer=self.key.public_bytes,
            timestamp_ms=max(self.env.now_ms(), head.timestamp_ms),
            max_txs=self.app.params().block_tx_limit,
        )
        self._replicate(proposal.block.encode(), proposal.block)

    def _replicate(self, encoded: bytes, block: Block) -> None:
        self.pending = (self.term, encoded)
        self._save_pending()
        block_hash = self.suite.hash(block.header.encode())
        self.env.broadcast(self._sign(Append(self.term, block.height, encoded, self.last_cert, self.key.public_bytes)))
        own = self._sign(Ack(self.term, block.height, block_hash, self.key.public_bytes))
        self._on_ack(own)

    def _on_ack(self, msg: Ack) -> None:
        if self.role != LEADER or msg.term != self.term:
            return
        pend = self._pending_block()
        if pend is None or pend[1].height != msg.height:
            return
        block_hash = self.suite.hash(pend[1].header.encode())
        if msg.block_hash != block_hash:
            return
        acks = self.acks[(msg.term, msg.height, msg.block_hash)]
        acks[msg.sender] = msg
        if len(acks) >= self.quorum:
            current = set(self.validators)  # only the set in force at this height ever counts
            acks = {sender: ack for sender, ack in acks.items() if sender in current}
        if len(acks) >= self.quorum:
            cert = CommitCertificate(
                chain_id=self.chain_id, height=msg.height, view=msg.term, block_hash=block_hash,
                votes=tuple(sorted((CertVote(a.sender, a.signature) for a in acks.values()), key=lambda v: v.validator)),
            )
            self._commit(pend[1], cert)
            if self.role != LEADER:
                return  # the block took us out of the validator set: the others elect a leader
            self._heartbeat()  # tell followers at once
            if self.app.has_pending():
                self.proposal_timer.schedule(self.app.params().min_seal_ms)
            else:
                self.proposal_timer.schedule(self.app.params().block_interval_ms)

    def _commit(self, block: Block, cert: CommitCertificate) -> None:
        self.app.commit(block, cert)
        self.last_cert = cert.encode()
        self.pending = None
        self._save_pending()
        self.acks.clear()
        self._follow_membership()

    # --- follower --------------------------------------------------------------------------

    def _on_append(self, msg: Append) -> None:
        if self.role == CANDIDATE:
            self.role = FOLLOWER
        if self.role == LEADER:
            self.dropped["two_leaders"] += 1  # impossible with one vote per term; never acted on
            return
        self.leader = msg.sender
        self.leader_seen_ms = self.env.now_ms()
        self._reset_election_timer()
        if msg.cert:
            self._apply_cert(msg.cert, msg.sender)
        if msg.block:
            self._store_entry(msg)
        elif msg.height > self.app.head().height + 1:
            self.env.request_sync(msg.height - 1, msg.sender)

    def _apply_cert(self, raw: bytes, leader: bytes) -> None:
        cert = CommitCertificate.decode(raw)
        head = self.app.head()
        if cert.height <= head.height:
            return
        pend = self._pending_block()
        if cert.height != head.height + 1 or pend is None:
            self.env.request_sync(cert.height, leader)
            return
        block = pend[1]
        block_hash = self.suite.hash(block.header.encode())
        if cert.block_hash != block_hash:
            self.env.request_sync(cert.height, leader)
            return
        verify_certificate(self.suite, cert, chain_id=self.chain_id, height=cert.height, block_hash=block_hash,
                           validators=self.validators, quorum=self.quorum)
        self._commit(block, cert)
        self.last_cert = raw

    def _store_entry(self, msg: Append) -> None:
        block = Block.decode(msg.block)
        head = self.app.head()
        if block.height <= head.height:
            return
        if block.height != head.height + 1:
            self.env.request_sync(block.height - 1, msg.sender)
            return
        if block.header.proposer not in self.validators:
            raise ConsortiaError("entry proposed by a non-validator")
        block_hash = self.app.validate(block)
        self.pending = (msg.term, msg.block)
        self._save_pending()  # persisted before we acknowledge it
        self.env.broadcast(self._sign(Ack(msg.term, block.height, block_hash, self.key.public_bytes)))

    def on_peer_connected(self) -> None:
        """A (re)connected follower hears the leader's next heartbeat: nothing to repeat early."""

    def advance(self) -> None:
        """Blocks arrived by catch-up: drop a pending entry they made obsolete, and follow the
        validator set they may have changed."""
        self._pending_block()
        self._follow_membership()
        if self.role == LEADER and self._pending_block() is None:
            self.proposal_timer.schedule(self.app.params().min_seal_ms)
