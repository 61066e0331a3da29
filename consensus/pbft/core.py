"""The PBFT state machine for one validator, driven by messages and timers.

One height is decided at a time (the sequence number is the block height). Within a height:

- the primary of view v -- ``validators[v % n]`` -- proposes a block in a signed PRE-PREPARE; the
  view carries over from height to height, so a primary keeps its role until it fails (a crashed
  primary costs one view change, not one every n blocks);
- every validator re-executes it and, if valid, broadcasts PREPARE for its hash; 2f+1 prepares
  make the block *prepared* here, and the validator broadcasts COMMIT;
- 2f+1 COMMITs for a known block decide it: it is committed with those signatures as its commit
  certificate, and the validator moves to the next height (view 0, next primary).
- A validator whose round timer expires broadcasts VIEW-CHANGE carrying its highest prepared
  certificate; 2f+1 of them let the next primary send NEW-VIEW, which must re-propose the block
  of the highest prepared certificate among them (byte for byte) if there is one. This is what
  keeps a block committed anywhere from being replaced.

All I/O goes through ``ConsensusEnv`` (consensus/api.py) (time, timers, sending, catch-up requests), so the same code runs
on the real network and on the deterministic simulator in ``consensus.testing``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from consensus.api import Application, ConsensusEnv
from consensus.certificate import quorum_size
from consensus.pbft.messages import (
    Commit,
    ConsensusMessage,
    NewView,
    PrePrepare,
    Prepare,
    PreparedCert,
    ViewChange,
    prepare_vote_bytes,
    sign_message,
    verify_message,
)
from consensus.timers import ProposalTimer
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.wire.types import Block, CommitCertificate, Vote

log = logging.getLogger("consortia.pbft")

FUTURE_WINDOW = 64  # heights ahead of ours for which messages are buffered (the watermark window)
MAX_FUTURE_PER_SENDER = 256
CLOCK_DRIFT_MS = 30_000
MAX_VIEW_BACKOFF = 6
VIEW_WINDOW = 16  # votes for views up to this far ahead are kept: we may see them before NEW-VIEW


@dataclass
class Round:
    """Everything received for the current height."""

    proposals: dict[int, tuple[PrePrepare, Block, bytes]] = field(default_factory=dict)
    prepares: dict[tuple[int, bytes], dict[bytes, Prepare]] = field(default_factory=lambda: defaultdict(dict))
    commits: dict[tuple[int, bytes], dict[bytes, Commit]] = field(default_factory=lambda: defaultdict(dict))
    view_changes: dict[int, dict[bytes, ViewChange]] = field(default_factory=lambda: defaultdict(dict))
    blocks: dict[bytes, tuple[bytes, Block]] = field(default_factory=dict)  # hash -> (encoding, block), validated
    prepared: PreparedCert | None = None
    sent_prepare: set[int] = field(default_factory=set)
    sent_commit: set[int] = field(default_factory=set)
    sent_view_change: int = 0  # highest view we asked for
    new_view_sent: set[int] = field(default_factory=set)
    own_votes: list[ConsensusMessage] = field(default_factory=list)  # re-sent on timeout (lossy links)


class PbftCore:
    def __init__(self, app: Application, key: KeyPair, env: ConsensusEnv) -> None:
        self.app = app
        self.key = key
        self.env = env
        self.suite = app.suite
        self.chain_id = app.chain_id
        self.height = app.head().height + 1
        self.view = self._initial_view()
        self.height_start_view = self.view
        self.round = Round()
        self.future: dict[bytes, list[ConsensusMessage]] = defaultdict(list)
        self.dropped: dict[str, int] = defaultdict(int)
        self.view_changes_total = 0
        self.stopped = False
        self.proposal_timer = ProposalTimer(env, self._propose)

    # --- validator set ---------------------------------------------------------------------

    @property
    def validators(self) -> list[bytes]:
        return self.app.validators()

    def primary(self, height: int, view: int) -> bytes:
        vals = self.validators
        return vals[view % len(vals)]

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.validators))

    @property
    def is_validator(self) -> bool:
        return self.key.public_bytes in self.validators

    def _sign(self, msg: ConsensusMessage) -> ConsensusMessage:
        return sign_message(self.suite, self.key.private_bytes, self.chain_id, msg)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._enter_round()

    def stop(self) -> None:
        self.stopped = True
        self.env.cancel_timer("round")
        self.proposal_timer.cancel()

    def status(self) -> dict[str, object]:
        return {
            "engine": "pbft",
            "height": self.height,
            "view": self.view,
            "primary": "0x" + self.primary(self.height, self.view).hex(),
            "validators": len(self.validators),
            "view_changes": self.view_changes_total,
            "dropped": dict(self.dropped),
        }

    def _round_timeout_ms(self) -> int:
        params = self.app.params()
        changes = self.view - self.height_start_view
        backoff = params.consensus_timeout_ms * (2 ** min(changes, MAX_VIEW_BACKOFF))
        return backoff + (params.block_interval_ms if changes == 0 else 0)

    def _enter_round(self) -> None:
        if self.stopped or not self.is_validator:
            return
        self.env.set_timer("round", self._round_timeout_ms(), self._on_round_timeout)
        if self.primary(self.height, self.view) == self.key.public_bytes and self.view not in self.round.proposals:
            if self.view == self.height_start_view:
                params = self.app.params()
                delay = params.min_seal_ms if self._has_pending() else params.block_interval_ms
                self.proposal_timer.schedule(delay)
            else:
                self.proposal_timer.cancel()
        else:
            self.proposal_timer.cancel()

    def _committed_view(self) -> int:
        """The view of the last certificate: where the rest of the network is (after catch-up too)."""
        head = self.app.head()
        cert = self.app.store.get_certificate(head.height) if hasattr(self.app, "store") else None
        return cert.view if cert is not None else 0

    def _initial_view(self) -> int:
        return self._committed_view()

    def _has_pending(self) -> bool:
        has = getattr(self.app, "has_pending", None)
        return bool(has()) if callable(has) else False

    def on_transactions(self) -> None:
        """New transactions arrived: an idle primary proposes soon instead of at the interval."""
        if (
            not self.stopped
            and self.view == self.height_start_view
            and self.is_validator
            and self.primary(self.height, self.view) == self.key.public_bytes
            and self.view not in self.round.proposals
        ):
            self.proposal_timer.schedule(self.app.params().min_seal_ms)

    # --- proposing -------------------------------------------------------------------------

    def _propose(self) -> None:
        if self.stopped or self.view in self.round.proposals or self.view != self.height_start_view:
            return
        if self.round.sent_view_change > self.view:
            return
        head = self.app.head()
        if head.height + 1 != self.height:
            return
        proposal = self.app.propose(
            height=self.height,
            view=self.view,
            proposer=self.key.public_bytes,
            timestamp_ms=max(self.env.now_ms(), head.timestamp_ms),
            max_txs=self.app.params().block_tx_limit,
        )
        msg = self._sign(PrePrepare(self.height, self.view, proposal.block.encode(), self.key.public_bytes))
        assert isinstance(msg, PrePrepare)
        self.env.broadcast(msg)
        self._on_preprepare(msg)

    # --- receiving -------------------------------------------------------------------------

    def on_message(self, msg: ConsensusMessage) -> None:
        """Handle one decoded message from the network; anything invalid is dropped and counted."""
        if self.stopped:
            return
        validators = self.validators
        if msg.sender not in validators:
            self.dropped["non_validator"] += 1
            return
        height = msg.height
        if height < self.height:
            self.dropped["stale"] += 1
            if verify_message(self.suite, self.chain_id, msg):
                self.env.peer_behind(msg.sender, height)
            return
        if height > self.height + FUTURE_WINDOW:
            self.dropped["out_of_window"] += 1
            return
        if not verify_message(self.suite, self.chain_id, msg):
            self.dropped["bad_signature"] += 1
            return
        if height > self.height:
            queue = self.future[msg.sender]
            if len(queue) < MAX_FUTURE_PER_SENDER:
                queue.append(msg)
            else:
                self.dropped["flood"] += 1
            # Someone is ahead of us: commits at a higher height prove the chain moved on.
            if isinstance(msg, Commit):
                self.env.request_sync(height - 1, msg.sender)
            return
        self._dispatch(msg)

    def _dispatch(self, msg: ConsensusMessage) -> None:
        try:
            if isinstance(msg, PrePrepare):
                self._on_preprepare(msg)
            elif isinstance(msg, Prepare):
                self._on_prepare(msg)
            elif isinstance(msg, Commit):
                self._on_commit(msg)
            elif isinstance(msg, ViewChange):
                self._on_view_change(msg)
            elif isinstance(msg, NewView):
                self._on_new_view(msg)
        except ConsortiaError as exc:
            self.dropped["invalid"] += 1
            log.info("event=pbft_message_rejected kind=%s sender=%s reason=%r", msg.kind, msg.sender.hex()[:16], exc.message)

    def _on_preprepare(self, msg: PrePrepare) -> None:
        if msg.view != self.view or self.round.sent_view_change > self.view:
            self.dropped["wrong_view"] += 1
            return
        if msg.sender != self.primary(msg.height, msg.view):
            self.dropped["not_primary"] += 1
            return
        existing = self.round.proposals.get(msg.view)
        if existing is not None:
            if existing[0].block != msg.block:
                self.dropped["equivocation"] += 1
                log.warning("event=pbft_equivocation height=%d view=%d primary=%s", msg.height, msg.view, msg.sender.hex()[:16])
                self._start_view_change(self.view + 1)
            return
        block, block_hash = self._validate_block(msg.block, expect_proposer=msg.sender)
        if block is None:
            self.dropped["invalid_proposal"] += 1
            # A primary that proposes an invalid block is replaced at once.
            self._start_view_change(self.view + 1)
            return
        self.round.proposals[msg.view] = (msg, block, block_hash)
        self._send_prepare(msg.view, block_hash)
        self._check_prepared(msg.view, block_hash)
        self._check_committed(msg.view, block_hash)

    def _validate_block(self, encoded: bytes, expect_proposer: bytes | None) -> tuple[Block | None, bytes]:
        try:
            block = Block.decode(encoded)
        except ConsortiaError:
            return None, b""
        block_hash = self.suite.hash(block.header.encode())
        if block_hash in self.round.blocks:
            return self.round.blocks[block_hash][1], block_hash
        if block.height != self.height:
            return None, b""
        if expect_proposer is not None and block.header.proposer != expect_proposer:
            return None, b""
        if block.header.proposer not in self.validators:
            return None, b""
        if block.header.timestamp_ms > self.env.now_ms() + CLOCK_DRIFT_MS:
            return None, b""
        try:
            self.app.validate(block)
        except ConsortiaError as exc:
            log.info("event=pbft_invalid_block height=%d reason=%r", block.height, exc.message)
            return None, b""
        self.round.blocks[block_hash] = (encoded, block)
        return block, block_hash

    def _send_prepare(self, view: int, block_hash: bytes) -> None:
        if view in self.round.sent_prepare:
            return
        self.round.sent_prepare.add(view)
        msg = self._sign(Prepare(self.height, view, block_hash, self.key.public_bytes))
        self.round.own_votes.append(msg)
        self.env.broadcast(msg)
        self._on_prepare(msg)  # type: ignore[arg-type]

    def _on_prepare(self, msg: Prepare) -> None:
        if msg.view > self.view + VIEW_WINDOW:
            self.dropped["wrong_view"] += 1
            return
        self.round.prepares[(msg.view, msg.block_hash)][msg.sender] = msg
        self._check_prepared(msg.view, msg.block_hash)

    def _check_prepared(self, view: int, block_hash: bytes) -> None:
        votes = self.round.prepares.get((view, block_hash), {})
        if len(votes) < self.quorum or block_hash not in self.round.blocks or view in self.round.sent_commit:
            return
        if view != self.view or self.round.sent_view_change > self.view:
            return
        encoded = self.round.blocks[block_hash][0]
        cert = PreparedCert(view=view, block=encoded, votes=tuple(Vote(p.sender, p.signature) for p in votes.values()))
        if self.round.prepared is None or self.round.prepared.view < view:
            self.round.prepared = cert
        self.round.sent_commit.add(view)
        msg = self._sign(Commit(self.height, view, block_hash, self.key.public_bytes))
        self.round.own_votes.append(msg)
        self.env.broadcast(msg)
        self._on_commit(msg)  # type: ignore[arg-type]

    def _on_commit(self, msg: Commit) -> None:
        if msg.view > self.view + VIEW_WINDOW:
            self.dropped["wrong_view"] += 1
            return
        self.round.commits[(msg.view, msg.block_hash)][msg.sender] = msg
        self._check_committed(msg.view, msg.block_hash)

    def _check_committed(self, view: int, block_hash: bytes) -> None:
        votes = self.round.commits.get((view, block_hash), {})
        if len(votes) < self.quorum or block_hash not in self.round.blocks:
            return
        block = self.round.blocks[block_hash][1]
        cert = CommitCertificate(
            chain_id=self.chain_id,
            height=self.height,
            view=view,
            block_hash=block_hash,
            votes=tuple(sorted((Vote(c.sender, c.signature) for c in votes.values()), key=lambda v: v.validator)),
        )
        self.app.commit(block, cert)
        log.debug("event=pbft_committed height=%d view=%d txs=%d", self.height, view, len(block.txs))
        self.advance()

    def advance(self) -> None:
        """Move to the height after the app's head (after a commit here or by catch-up)."""
        new_height = self.app.head().height + 1
        if new_height == self.height:
            return
        self.height = new_height
        self.view = max(self.view, self._committed_view())
        self.height_start_view = self.view
        self.round = Round()
        self._enter_round()
        self._replay_future()

    def _replay_future(self) -> None:
        pending = [m for msgs in self.future.values() for m in msgs]
        self.future = defaultdict(list)
        for msg in pending:
            if msg.height == self.height:
                self._dispatch(msg)
            elif msg.height > self.height:
                self.future[msg.sender].append(msg)

    # --- view change -----------------------------------------------------------------------

    def _on_round_timeout(self) -> None:
        if self.stopped:
            return
        log.info("event=pbft_round_timeout height=%d view=%d", self.height, self.view)
        for vote in self.round.own_votes[-4:]:  # a lost vote may be all that is missing
            self.env.broadcast(vote)
        self._start_view_change(max(self.view, self.round.sent_view_change) + 1)

    def _start_view_change(self, new_view: int) -> None:
        if new_view <= self.round.sent_view_change or not self.is_validator:
            return
        self.round.sent_view_change = new_view
        self.view_changes_total += 1
        self.proposal_timer.cancel()
        msg = self._sign(ViewChange(self.height, new_view, self.round.prepared, self.key.public_bytes))
        self.env.broadcast(msg)
        # If the new view does not start in time, ask for the one after it.
        params = self.app.params()
        self.env.set_timer("round", params.consensus_timeout_ms * (2 ** min(new_view, MAX_VIEW_BACKOFF)), self._on_round_timeout)
        self._on_view_change(msg)  # type: ignore[arg-type]

    def _valid_prepared(self, cert: PreparedCert) -> bytes | None:
        """The block hash a prepared certificate proves, or None if it proves nothing."""
        try:
            block = Block.decode(cert.block)
        except ConsortiaError:
            return None
        if block.height != self.height:
            return None
        block_hash = self.suite.hash(block.header.encode())
        allowed = set(self.validators)
        message = prepare_vote_bytes(self.chain_id, self.height, cert.view, block_hash)
        signers = set()
        for vote in cert.votes:
            if vote.validator in allowed and vote.validator not in signers and self.suite.verify(vote.validator, message, vote.signature):
                signers.add(vote.validator)
        return block_hash if len(signers) >= self.quorum else None

    def _on_view_change(self, msg: ViewChange) -> None:
        if msg.new_view <= self.view:
            self.dropped["wrong_view"] += 1
            return
        if msg.prepared is not None and self._valid_prepared(msg.prepared) is None:
            self.dropped["invalid"] += 1
            return
        self.round.view_changes[msg.new_view][msg.sender] = msg
        # f+1 validators want a higher view: at least one honest one timed out, so join them.
        f = len(self.validators) - self.quorum
        higher = [v for v, vcs in self.round.view_changes.items() if v > self.round.sent_view_change and len(vcs) >= f + 1]
        if higher:
            self._start_view_change(min(higher))
        vcs = self.round.view_changes[msg.new_view]
        if (
            len(vcs) >= self.quorum
            and self.primary(self.height, msg.new_view) == self.key.public_bytes
            and msg.new_view not in self.round.new_view_sent
        ):
            self._send_new_view(msg.new_view, tuple(vcs.values()))

    def _send_new_view(self, view: int, vcs: tuple[ViewChange, ...]) -> None:
        self.round.new_view_sent.add(view)
        best = max((vc.prepared for vc in vcs if vc.prepared is not None), key=lambda c: c.view, default=None)
        if best is not None:
            encoded = best.block
        else:
            head = self.app.head()
            proposal = self.app.propose(
                height=self.height,
                view=view,
                proposer=self.key.public_bytes,
                timestamp_ms=max(self.env.now_ms(), head.timestamp_ms),
                max_txs=self.app.params().block_tx_limit,
            )
            encoded = proposal.block.encode()
        pre = self._sign(PrePrepare(self.height, view, encoded, self.key.public_bytes))
        nv = self._sign(NewView(self.height, view, vcs[: self.quorum], pre, self.key.public_bytes))  # type: ignore[arg-type]
        self.env.broadcast(nv)
        self._on_new_view(nv)  # type: ignore[arg-type]

    def _on_new_view(self, msg: NewView) -> None:
        if msg.view < self.view or (msg.view == self.view and self.view in self.round.proposals):
            self.dropped["wrong_view"] += 1
            return
        if msg.sender != self.primary(self.height, msg.view) or msg.proposal.sender != msg.sender or msg.proposal.view != msg.view:
            self.dropped["not_primary"] += 1
            return
        if msg.proposal.height != self.height or not verify_message(self.suite, self.chain_id, msg.proposal):
            self.dropped["invalid"] += 1
            return
        allowed = set(self.validators)
        senders = set()
        best: PreparedCert | None = None
        for vc in msg.view_changes:
            if vc.sender not in allowed or vc.sender in senders or vc.height != self.height or vc.new_view != msg.view:
                continue
            if not verify_message(self.suite, self.chain_id, vc):
                continue
            if vc.prepared is not None:
                if self._valid_prepared(vc.prepared) is None:
                    continue
                if best is None or vc.prepared.view > best.view:
                    best = vc.prepared
            senders.add(vc.sender)
        if len(senders) < self.quorum:
            self.dropped["invalid"] += 1
            return
        if best is not None and msg.proposal.block != best.block:
            # The new primary must carry forward the highest prepared block: this one tried not to.
            self.dropped["invalid_proposal"] += 1
            self._start_view_change(msg.view + 1)
            return
        self.view = msg.view
        self.env.set_timer("round", self._round_timeout_ms(), self._on_round_timeout)
        self.proposal_timer.cancel()
        block, block_hash = self._validate_block(msg.proposal.block, expect_proposer=None)
        if block is None:
            self.dropped["invalid_proposal"] += 1
            self._start_view_change(msg.view + 1)
            return
        self.round.proposals[msg.view] = (msg.proposal, block, block_hash)
        self._send_prepare(msg.view, block_hash)
        self._check_prepared(msg.view, block_hash)
        self._check_committed(msg.view, block_hash)
