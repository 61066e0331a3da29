"""The PBFT state machine for one validator, driven by messages and timers, with pipelining.

The sequence number is the block height. Up to ``pbft_window`` heights are in flight at once,
from the lowest uncommitted height (``self.height``, the low watermark) upward:

- the primary of view v -- ``validators[v % n]`` -- proposes a block in a signed PRE-PREPARE.
  It does not wait for the previous height to commit: the next block is built on the previous
  one's executed but uncommitted state (see ``Chain.parent_state``). The view carries over
  from height to height, so a primary keeps its role until it fails.
- every validator re-executes the block over its parent (the head, or the proposal of the same
  view one height below) and, if valid, broadcasts PREPARE for its hash; 2f+1 prepares make the
  block *prepared* here. A validator sends COMMIT for height h only once it has sent COMMIT for
  the block's parent at h-1: so whoever commits h+1 has prepared h, and a view change can
  never keep a child while replacing its parent.
- 2f+1 COMMITs for a known block decide it. Blocks commit strictly in height order, each with
  its commit certificate; a certificate is this protocol's stable checkpoint (2f+1 signatures
  over the block hash, which covers the state root), so everything at or below the committed
  head is garbage-collected at once and the window slides up.
- A validator whose round timer expires (no commit for a whole timeout) broadcasts VIEW-CHANGE
  carrying its prepared certificates for each height in flight, in order. 2f+1 of them let the
  next primary send NEW-VIEW. Every receiver computes the same blocks to carry forward from the
  view changes in it: height by height, the highest-view prepared block, as long as it extends
  the block chosen below it. These are re-proposed byte for byte in the new view; anything
  above them is proposed afresh. This is what keeps a block committed anywhere from being
  replaced.

All I/O goes through ``ConsensusEnv`` (consensus/api.py) (time, timers, sending, catch-up
requests), so the same code runs on the real network and on the deterministic simulator in
``node.testing.simnet``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from consensus.api import Application, ConsensusEnv
from consensus.certificate import quorum_size
from consensus.pbft.journal import VoteJournal
from consensus.pbft.messages import (
    MAX_PREPARED_CERTS,
    Commit,
    ConsensusMessage,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    ViewChange,
    sign_message,
    verify_message,
)
from consensus.pbft.viewchange import carried_forward, view_change_is_valid
from consensus.timers import ProposalTimer
from node.crypto.base import KeyPair
from node.errors import ConsortiaError
from node.wire.types import Block, CommitCertificate, Vote

log = logging.getLogger("consortia.pbft")

FUTURE_WINDOW = 64  # heights ahead of ours for which messages are buffered (beyond the active window)
MAX_FUTURE_PER_SENDER = 256
CLOCK_DRIFT_MS = 30_000
MAX_VIEW_BACKOFF = 6
VIEW_WINDOW = 16  # votes for views up to this far ahead are kept: we may see them before NEW-VIEW


@dataclass
class Slot:
    """Everything received for one height in flight."""

    height: int
    accepted: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # view -> (block encoding, hash), validated
    parked: dict[int, tuple[bytes, bytes | None]] = field(default_factory=dict)  # view -> (encoding, proposer): parent not here yet
    prepares: dict[tuple[int, bytes], dict[bytes, Prepare]] = field(default_factory=lambda: defaultdict(dict))
    commits: dict[tuple[int, bytes], dict[bytes, Commit]] = field(default_factory=lambda: defaultdict(dict))
    blocks: dict[bytes, Block] = field(default_factory=dict)  # hash -> validated block
    prepared: PreparedCert | None = None
    prepared_hash: bytes = b""
    sent_prepare: set[int] = field(default_factory=set)
    sent_commit: dict[int, bytes] = field(default_factory=dict)  # view -> hash we sent COMMIT for
    own_votes: list[ConsensusMessage] = field(default_factory=list)  # re-sent on timeout (lossy links)
    own_proposal: PrePrepare | None = None  # ours, when we are the primary: re-sent likewise


class PbftCore:
    def __init__(self, app: Application, key: KeyPair, env: ConsensusEnv) -> None:
        self.app = app
        self.key = key
        self.env = env
        self.suite = app.suite
        self.chain_id = app.chain_id
        self.height = app.head().height + 1  # the lowest uncommitted height: the low watermark
        self.view = self._committed_view()
        self.height_start_view = self.view
        self.slots: dict[int, Slot] = {}
        self.future: dict[bytes, list[ConsensusMessage]] = defaultdict(list)
        self.early: dict[int, list[PrePrepare]] = defaultdict(list)
        # View change state for the current low watermark; reset whenever a block commits.
        self.view_changes: dict[int, dict[bytes, ViewChange]] = defaultdict(dict)
        self.journal = VoteJournal(getattr(app, "store", None))
        self.journal.committed(self.height - 1)
        self.vc_target = max(self.view, self.journal.left_view)  # highest view we asked for (kept across restarts)
        self.own_view_changes: dict[int, ViewChange] = {}  # ours at this watermark, by view: repeated on timeouts
        self.new_view_sent: set[int] = set()
        self.last_new_view: NewView | None = None  # the last view entered by NEW-VIEW; repeated to validators that missed it
        self.dropped: dict[str, int] = defaultdict(int)
        self.view_changes_total = 0
        self.max_in_flight = 0
        self.carried_total = 0  # blocks re-proposed by NEW-VIEW from prepared certificates
        self.stopped = False
        self.proposal_timer = ProposalTimer(env, self._propose)

    # --- validator set ---------------------------------------------------------------------

    @property
    def validators(self) -> list[bytes]:
        return self.app.validators()

    def primary(self, view: int) -> bytes:
        vals = self.validators
        return vals[view % len(vals)]

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.validators))

    @property
    def is_validator(self) -> bool:
        return self.key.public_bytes in self.validators

    @property
    def window(self) -> int:
        return max(1, min(self.app.params().pbft_window, MAX_PREPARED_CERTS))

    @property
    def in_view_change(self) -> bool:
        return self.vc_target > self.view

    def _sign(self, msg: ConsensusMessage) -> ConsensusMessage:
        return sign_message(self.suite, self.key.private_bytes, self.chain_id, msg)

    def _slot(self, height: int) -> Slot:
        slot = self.slots.get(height)
        if slot is None:
            slot = self.slots[height] = Slot(height)
        return slot

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.in_view_change:
            self._repeat_view_change()  # we had asked to leave this view before a restart
        else:
            self._arm_round_timer()
            self._schedule_proposal()

    def stop(self) -> None:
        self.stopped = True
        self.env.cancel_timer("round")
        self.env.cancel_timer("nudge")
        self.proposal_timer.cancel()

    def in_flight(self) -> list[int]:
        """Heights with a proposal accepted in the current view and not yet committed."""
        return sorted(h for h, s in self.slots.items() if self.view in s.accepted)

    def status(self) -> dict[str, object]:
        return {
            "engine": "pbft",
            "height": self.height,
            "view": self.view,
            "primary": "0x" + self.primary(self.view).hex(),
            "validators": len(self.validators),
            "window": self.window,
            "in_flight": len(self.in_flight()),
            "max_in_flight": self.max_in_flight,
            "carried_forward": self.carried_total,
            "view_changes": self.view_changes_total,
            "dropped": dict(self.dropped),
        }

    def _round_timeout_ms(self) -> int:
        params = self.app.params()
        changes = self.view - self.height_start_view
        backoff = params.consensus_timeout_ms * (2 ** min(changes, MAX_VIEW_BACKOFF))
        return backoff + (params.block_interval_ms if changes == 0 else 0)

    def _arm_round_timer(self) -> None:
        if not self.stopped and self.is_validator:
            self.env.set_timer("round", self._round_timeout_ms(), self._on_round_timeout)
            self._arm_nudge()

    def _arm_nudge(self) -> None:
        """Well before the round times out, repeat what we said for the lowest heights: a lost
        message (a link that was still connecting, a full queue) then costs a fraction of the
        timeout instead of a view change."""
        delay = max(100, self.app.params().consensus_timeout_ms // 3)
        height = self.height
        self.env.set_timer("nudge", delay, lambda: self._on_nudge(height))

    def _on_nudge(self, height: int) -> None:
        if self.stopped or height != self.height:
            return
        self.resend_own_messages(heights=2)
        self._arm_nudge()

    def on_peer_connected(self) -> None:
        """A validator (re)connected and may have missed everything we sent while it was away."""
        self.resend_own_messages(heights=self.window)

    def resend_own_messages(self, heights: int) -> None:
        """Broadcast again our proposals and votes for the lowest ``heights`` uncommitted heights,
        and our view-change requests (the receivers drop what they already have)."""
        if self.stopped or not self.is_validator:
            return
        for h in sorted(self.slots)[:heights]:
            slot = self.slots[h]
            if slot.own_proposal is not None:
                self.env.broadcast(slot.own_proposal)
            for vote in slot.own_votes[-4:]:
                self.env.broadcast(vote)
        for vc in self.own_view_changes.values():
            self.env.broadcast(vc)
        if self.last_new_view is not None and self.last_new_view.sender == self.key.public_bytes and self.last_new_view.view == self.view:
            self.env.broadcast(self.last_new_view)

    def _committed_view(self) -> int:
        """The view of the last certificate: where the rest of the network is (after catch-up too)."""
        head = self.app.head()
        cert = self.app.store.get_certificate(head.height) if hasattr(self.app, "store") else None
        return cert.view if cert is not None else 0

    # --- proposing -------------------------------------------------------------------------

    def _is_primary(self) -> bool:
        return self.is_validator and self.primary(self.view) == self.key.public_bytes

    def _next_proposal_height(self) -> int | None:
        """The lowest height with no proposal of ours in this view, if it is inside the window."""
        h = self.height
        while h in self.slots and self.view in self.slots[h].accepted:
            h += 1
        return h if h < self.height + self.window else None

    def _txs_in_flight(self) -> int:
        total = 0
        for slot in self.slots.values():
            entry = slot.accepted.get(self.view)
            if entry is not None:
                total += len(slot.blocks[entry[1]].txs)
        return total

    def _has_pending(self) -> bool:
        has = getattr(self.app, "has_pending", None)
        return bool(has(self._txs_in_flight())) if callable(has) else False

    def _schedule_proposal(self) -> None:
        """Arrange our next proposal, if we are the primary and the window has room: soon when
        transactions wait, after the block interval for an empty block when nothing is in flight."""
        if self.stopped or self.in_view_change or not self._is_primary():
            self.proposal_timer.cancel()
            return
        h = self._next_proposal_height()
        if h is None:
            return
        params = self.app.params()
        if self._has_pending():
            self.proposal_timer.schedule(params.min_seal_ms)
        elif h == self.height:
            self.proposal_timer.schedule(params.block_interval_ms)

    def on_transactions(self) -> None:
        """New transactions arrived: an idle primary proposes soon instead of at the interval."""
        due = self.proposal_timer.due
        if due is not None and due <= self.env.now_ms() + self.app.params().min_seal_ms:
            return  # a proposal is already due soon: nothing to bring forward (called per transaction)
        self._schedule_proposal()

    def _propose(self) -> None:
        if self.stopped or self.in_view_change or not self._is_primary():
            return
        h = self._next_proposal_height()
        if h is None or (h > self.height and not self._has_pending()):
            return
        if self.journal.signed_before("preprepare", h, self.view) is not None:
            return  # proposed here before a restart and lost it: never a second block; the view will change
        parent_hash = None if h == self.height else self.slots[h - 1].accepted[self.view][1]
        try:
            proposal = self.app.propose(
                height=h,
                view=self.view,
                proposer=self.key.public_bytes,
                timestamp_ms=self.env.now_ms(),
                max_txs=self.app.params().block_tx_limit,
                parent_hash=parent_hash,
            )
        except ConsortiaError as exc:  # e.g. the parent changes the node list: wait for it to commit
            log.info("event=pbft_propose_deferred height=%d reason=%r", h, exc.message)
            return
        msg = self._sign(PrePrepare(h, self.view, proposal.block.encode(), self.key.public_bytes))
        assert isinstance(msg, PrePrepare)
        self.journal.record("preprepare", h, self.view, proposal.block_hash)
        self._slot(h).own_proposal = msg
        self.env.broadcast(msg)
        self._accept_proposal(h, self.view, msg.block, self.key.public_bytes)
        self._schedule_proposal()

    # --- receiving -------------------------------------------------------------------------

    def on_message(self, msg: ConsensusMessage) -> None:
        """Handle one decoded message from the network; anything invalid is dropped and counted."""
        if self.stopped:
            return
        if msg.sender not in self.validators:
            self.dropped["non_validator"] += 1
            return
        height = msg.height
        if height < self.height and not isinstance(msg, NewView):  # a NEW-VIEW stays valid as we commit on
            self.dropped["stale"] += 1
            # Late votes for the block we just committed are normal; anything older means the
            # sender is behind: offer it our blocks (once we know the message is really from it).
            if height < self.height - 1 and verify_message(self.suite, self.chain_id, msg):
                self.env.peer_behind(msg.sender, height)
            return
        if height > self.height + FUTURE_WINDOW:
            self.dropped["out_of_window"] += 1
            return
        if not verify_message(self.suite, self.chain_id, msg):
            self.dropped["bad_signature"] += 1
            return
        beyond_window = height >= self.height + self.window
        about_later_head = isinstance(msg, (ViewChange, NewView)) and height > self.height
        if beyond_window or about_later_head:
            queue = self.future[msg.sender]
            if len(queue) < MAX_FUTURE_PER_SENDER:
                queue.append(msg)
            else:
                self.dropped["flood"] += 1
            # The sender has committed more than we have: catch up.
            if isinstance(msg, Commit) or about_later_head:
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
        if self.view < msg.view <= max(self.vc_target, self.view + 1) and msg.sender == self.primary(msg.view):
            early = self.early[msg.view]  # the NEW-VIEW that opens this view may still be on its way
            if len(early) < self.window:
                early.append(msg)
            return
        if msg.view != self.view or self.in_view_change:
            self.dropped["wrong_view"] += 1
            return
        if msg.sender != self.primary(msg.view):
            self.dropped["not_primary"] += 1
            return
        self._accept_proposal(msg.height, msg.view, msg.block, msg.sender)

    def _accept_proposal(self, height: int, view: int, encoded: bytes, proposer: bytes | None) -> None:
        """Validate the block proposed for (height, view) and prepare it; ``proposer`` None means a
        block carried forward by NEW-VIEW (proposed by an earlier primary)."""
        slot = self._slot(height)
        known = slot.accepted.get(view) or slot.parked.get(view)
        if known is not None:
            if known[0] != encoded:
                self.dropped["equivocation"] += 1
                log.warning("event=pbft_equivocation height=%d view=%d", height, view)
                self._start_view_change(self.view + 1)
            return
        if height == self.height:
            parent_hash = self.app.head().block_hash
        else:
            below = self.slots.get(height - 1)
            parent = below.accepted.get(view) if below is not None else None
            if parent is None:
                slot.parked[view] = (encoded, proposer)  # its parent's proposal has not arrived yet
                return
            parent_hash = parent[1]
        block, block_hash = self._validate_block(slot, encoded, proposer, parent_hash)
        if block is None:
            self.dropped["invalid_proposal"] += 1
            # A primary that proposes an invalid block is replaced at once.
            self._start_view_change(self.view + 1)
            return
        slot.accepted[view] = (encoded, block_hash)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight()))
        self._send_prepare(slot, view, block_hash)
        self._check_prepared(slot, view, block_hash)
        for key in list(slot.commits):
            self._check_committed(slot, *key)
        child = self.slots.get(height + 1)
        if child is not None and view in child.parked:
            child_encoded, child_proposer = child.parked.pop(view)
            self._accept_proposal(height + 1, view, child_encoded, child_proposer)

    def _validate_block(self, slot: Slot, encoded: bytes, proposer: bytes | None, parent_hash: bytes) -> tuple[Block | None, bytes]:
        try:
            block = Block.decode(encoded)
        except ConsortiaError:
            return None, b""
        block_hash = self.suite.hash(block.header.encode())
        if block_hash in slot.blocks:
            return slot.blocks[block_hash], block_hash
        hdr = block.header
        if block.height != slot.height or hdr.parent_hash != parent_hash:
            return None, b""
        if proposer is not None and hdr.proposer != proposer:
            return None, b""
        if hdr.proposer not in self.validators:
            return None, b""
        if hdr.timestamp_ms > self.env.now_ms() + CLOCK_DRIFT_MS:
            return None, b""
        try:
            self.app.validate(block)
        except ConsortiaError as exc:
            log.info("event=pbft_invalid_block height=%d reason=%r", block.height, exc.message)
            return None, b""
        slot.blocks[block_hash] = block
        return block, block_hash

    def _send_prepare(self, slot: Slot, view: int, block_hash: bytes) -> None:
        if view in slot.sent_prepare or not self.is_validator:
            return
        if not self.journal.may_sign("prepare", slot.height, view, block_hash):
            self.dropped["conflicts_with_journal"] += 1  # we prepared another block here before a restart
            return
        slot.sent_prepare.add(view)
        self.journal.record("prepare", slot.height, view, block_hash)
        msg = self._sign(Prepare(slot.height, view, block_hash, self.key.public_bytes))
        slot.own_votes.append(msg)
        self.env.broadcast(msg)
        self._on_prepare(msg)  # type: ignore[arg-type]

    def _on_prepare(self, msg: Prepare) -> None:
        if msg.view > self.view + VIEW_WINDOW:
            self.dropped["wrong_view"] += 1
            return
        slot = self._slot(msg.height)
        slot.prepares[(msg.view, msg.block_hash)][msg.sender] = msg
        self._check_prepared(slot, msg.view, msg.block_hash)

    def _check_prepared(self, slot: Slot, view: int, block_hash: bytes) -> None:
        if view != self.view or self.in_view_change or slot.accepted.get(view, (b"", b""))[1] != block_hash:
            return
        votes = slot.prepares.get((view, block_hash), {})
        if len(votes) < self.quorum or (slot.prepared is not None and slot.prepared.view >= view):
            return
        slot.prepared = PreparedCert(view=view, block=slot.accepted[view][0],
                                     votes=tuple(Vote(p.sender, p.signature) for p in votes.values()))
        slot.prepared_hash = block_hash
        self._try_commit(slot)

    def _try_commit(self, slot: Slot) -> None:
        """Send COMMIT for the block prepared in this view once its parent has our COMMIT too."""
        view = self.view
        if slot.prepared is None or slot.prepared.view != view or view in slot.sent_commit or self.in_view_change:
            return
        if not self.is_validator:
            return
        block = slot.blocks[slot.prepared_hash]
        if slot.height > self.height:
            below = self.slots.get(slot.height - 1)
            if below is None or below.sent_commit.get(view) != block.header.parent_hash:
                return
        if not self.journal.may_sign("commit", slot.height, view, slot.prepared_hash):
            self.dropped["conflicts_with_journal"] += 1
            return
        slot.sent_commit[view] = slot.prepared_hash
        self.journal.record("commit", slot.height, view, slot.prepared_hash)
        msg = self._sign(Commit(slot.height, view, slot.prepared_hash, self.key.public_bytes))
        slot.own_votes.append(msg)
        self.env.broadcast(msg)
        self._on_commit(msg)  # type: ignore[arg-type]
        child = self.slots.get(slot.height + 1)
        if child is not None:
            self._try_commit(child)

    def _on_commit(self, msg: Commit) -> None:
        if msg.view > self.view + VIEW_WINDOW:
            self.dropped["wrong_view"] += 1
            return
        slot = self._slot(msg.height)
        slot.commits[(msg.view, msg.block_hash)][msg.sender] = msg
        self._check_committed(slot, msg.view, msg.block_hash)

    def _check_committed(self, slot: Slot, view: int, block_hash: bytes) -> None:
        votes = slot.commits.get((view, block_hash), {})
        if len(votes) < self.quorum or block_hash not in slot.blocks:
            return
        if slot.height != self.height:
            # Decided above a height we have not committed: we missed something below. The
            # round timer (re-sent votes, then catch-up through the others) repairs it.
            return
        block = slot.blocks[block_hash]
        if block.header.parent_hash != self.app.head().block_hash:
            return
        cert = CommitCertificate(
            chain_id=self.chain_id,
            height=slot.height,
            view=view,
            block_hash=block_hash,
            votes=tuple(sorted((Vote(c.sender, c.signature) for c in votes.values()), key=lambda v: v.validator)),
        )
        self.app.commit(block, cert)
        log.debug("event=pbft_committed height=%d view=%d txs=%d", slot.height, view, len(block.txs))
        self.advance()

    def advance(self) -> None:
        """Slide the window to the height after the app's head (after a commit here or by catch-up)."""
        new_height = self.app.head().height + 1
        if new_height == self.height:
            return
        self.height = new_height
        self.journal.committed(new_height - 1)
        for h in [h for h in self.slots if h < new_height]:
            del self.slots[h]  # garbage collection: the certificate below is the checkpoint
        self._drop_orphaned_proposals()
        self.view = max(self.view, self._committed_view())
        self.vc_target = max(self.vc_target, self.view)
        # View changes report prepared blocks from the low watermark up, so they are per height.
        self.view_changes = defaultdict(dict)
        if self.in_view_change:
            # Having asked to leave view v, we never vote in it again, at any height: a NEW-VIEW
            # built from our request relies on that. Ask again from the new watermark.
            self._repeat_view_change()
        else:
            self.own_view_changes = {}
            self.height_start_view = self.view
            self._arm_round_timer()
        self._replay_future()
        lowest = self.slots.get(self.height)
        if lowest is not None and self.view in lowest.parked:
            # Its parent was committed by catch-up rather than proposed to us: check it now.
            encoded, proposer = lowest.parked.pop(self.view)
            self._accept_proposal(self.height, self.view, encoded, proposer)
        lowest = self.slots.get(self.height)
        if lowest is not None:
            self._try_commit(lowest)
            for key in list(lowest.commits):
                if self.height != lowest.height:
                    break
                self._check_committed(lowest, *key)
        if self.height == new_height:
            self._schedule_proposal()

    def _repeat_view_change(self) -> None:
        """Ask for ``vc_target`` again, from the current watermark (after a commit or a restart)."""
        vc = self._sign(ViewChange(self.height, self.vc_target, self._prepared_run(), self.key.public_bytes))
        assert isinstance(vc, ViewChange)
        self.own_view_changes = {self.vc_target: vc}
        self.env.broadcast(vc)
        self.view_changes[self.vc_target][self.key.public_bytes] = vc
        self._arm_view_change_timer()

    def _drop_orphaned_proposals(self) -> None:
        """Proposals that no longer extend the committed head (e.g. catch-up committed another
        branch) can never commit: forget them so nothing is built or voted on them."""
        parents = {self.app.head().block_hash}
        for h in sorted(self.slots):
            slot = self.slots[h]
            for view, (_, block_hash) in list(slot.accepted.items()):
                if slot.blocks[block_hash].header.parent_hash not in parents:
                    del slot.accepted[view]
            parents = {block_hash for _, block_hash in slot.accepted.values()}

    def _replay_future(self) -> None:
        pending = [m for msgs in self.future.values() for m in msgs]
        self.future = defaultdict(list)
        for msg in pending:
            if msg.height < self.height:
                continue
            if msg.height >= self.height + self.window or (isinstance(msg, (ViewChange, NewView)) and msg.height > self.height):
                self.future[msg.sender].append(msg)
            else:
                self._dispatch(msg)

    # --- view change -----------------------------------------------------------------------

    def _on_round_timeout(self) -> None:
        if self.stopped:
            return
        if self.in_view_change and len(self.view_changes.get(self.vc_target, {})) < self.quorum:
            # Too few others have given up on this view yet: repeat our request (links lose
            # messages) but do not race ahead to the next view alone.
            # All of them: a validator that missed our request for an earlier view may still
            # be waiting for a quorum there, and cannot follow us higher without it.
            for vc in self.own_view_changes.values():
                self.env.broadcast(vc)
            self._arm_view_change_timer()
            return
        log.info("event=pbft_round_timeout height=%d view=%d", self.height, self.view)
        self.resend_own_messages(heights=2)  # a lost message may be all that is missing
        ahead = self._decided_elsewhere()
        if ahead is not None and not self.in_view_change:
            # The others are committing in this view; we are the one behind. Leaving the view
            # would take us out of consensus until the next view change: catch up instead.
            self.env.request_sync(ahead, None)
            self._arm_round_timer()
            return
        self._start_view_change(max(self.view, self.vc_target) + 1)

    def _decided_elsewhere(self) -> int | None:
        """A height at or above our watermark that others have evidently committed, if any: 2f+1
        COMMITs for one block in a slot, or COMMITs beyond the window from f+1 validators (so
        at least one honest one; a lone Byzantine validator cannot keep us from changing views)."""
        for h in sorted(self.slots, reverse=True):
            if any(len(votes) >= self.quorum for votes in self.slots[h].commits.values()):
                return h
        f = len(self.validators) - self.quorum
        senders = {sender for sender, msgs in self.future.items() if any(isinstance(m, Commit) for m in msgs)}
        if len(senders) >= f + 1:
            return max(m.height for msgs in self.future.values() for m in msgs if isinstance(m, Commit))
        return None

    def _prepared_run(self) -> tuple[PreparedCert, ...]:
        """Our prepared certificates from the low watermark up, stopping at the first gap."""
        out = []
        h = self.height
        while h in self.slots and self.slots[h].prepared is not None and len(out) < MAX_PREPARED_CERTS:
            out.append(self.slots[h].prepared)
            h += 1
        return tuple(out)  # type: ignore[arg-type]

    def _start_view_change(self, new_view: int) -> None:
        if new_view <= self.vc_target or not self.is_validator:
            return
        self.vc_target = new_view
        self.journal.record_view_change(new_view)
        self.view_changes_total += 1
        self.proposal_timer.cancel()
        msg = self._sign(ViewChange(self.height, new_view, self._prepared_run(), self.key.public_bytes))
        assert isinstance(msg, ViewChange)
        self.own_view_changes[new_view] = msg
        self.env.broadcast(msg)
        self._on_view_change(msg)
        self._arm_view_change_timer()

    def _arm_view_change_timer(self) -> None:
        """While fewer than 2f+1 validators want the new view, time out only to repeat our
        request; once they do, give the new primary a (backed-off) timeout before asking for the
        view after. Counting from the quorum, not from our own request, keeps honest timers in
        step, so one validator cannot race views ahead of the rest."""
        timeout = self.app.params().consensus_timeout_ms
        if len(self.view_changes.get(self.vc_target, {})) >= self.quorum:
            timeout *= 2 ** min(self.vc_target - self.height_start_view, MAX_VIEW_BACKOFF)
        self.env.set_timer("round", timeout, self._on_round_timeout)

    def _valid_view_change(self, vc: ViewChange) -> bool:
        return view_change_is_valid(self.suite, self.chain_id, self.validators, self.quorum, vc)

    def _on_view_change(self, msg: ViewChange) -> None:
        if msg.new_view <= self.view:
            self.dropped["wrong_view"] += 1
            if msg.new_view == self.view and self.last_new_view is not None and self.last_new_view.view == self.view:
                # The sender missed the NEW-VIEW that opened our view (it keeps asking): repeat it.
                self.env.broadcast(self.last_new_view)
            return
        if msg.new_view > self.view + VIEW_WINDOW:
            self.dropped["wrong_view"] += 1
            return
        if msg.sender in self.view_changes[msg.new_view]:
            return
        if msg.sender != self.key.public_bytes and not self._valid_view_change(msg):
            self.dropped["invalid"] += 1
            return
        self.view_changes[msg.new_view][msg.sender] = msg
        if msg.new_view == self.vc_target and len(self.view_changes[msg.new_view]) == self.quorum and msg.sender != self.key.public_bytes:
            self._arm_view_change_timer()
        # f+1 validators want a higher view: at least one honest one timed out, so join them.
        f = len(self.validators) - self.quorum
        higher = [v for v, vcs in self.view_changes.items() if v > self.vc_target and len(vcs) >= f + 1]
        if higher:
            self._start_view_change(min(higher))
        vcs = self.view_changes[msg.new_view]
        if len(vcs) >= self.quorum and self.primary(msg.new_view) == self.key.public_bytes and msg.new_view not in self.new_view_sent:
            self.new_view_sent.add(msg.new_view)
            nv = self._sign(NewView(self.height, msg.new_view, tuple(vcs.values())[: self.quorum], self.key.public_bytes))
            self.env.broadcast(nv)
            self._on_new_view(nv)  # type: ignore[arg-type]

    def _on_new_view(self, msg: NewView) -> None:
        fresh_view = msg.view > self.view or not any(msg.view in s.accepted for s in self.slots.values())
        entered_before = self.last_new_view is not None and msg.view == self.last_new_view.view
        if msg.view < self.view or entered_before or not fresh_view:
            self.dropped["wrong_view"] += 1
            return
        if msg.height < self.height - FUTURE_WINDOW:
            self.dropped["stale"] += 1
            return
        if msg.sender != self.primary(msg.view):
            self.dropped["not_primary"] += 1
            return
        allowed = set(self.validators)
        valid: dict[bytes, ViewChange] = {}
        for vc in msg.view_changes:
            if vc.sender not in allowed or vc.sender in valid or vc.height != msg.height or vc.new_view != msg.view:
                continue
            known = self.view_changes.get(msg.view, {}).get(vc.sender)
            if known != vc and not (verify_message(self.suite, self.chain_id, vc) and self._valid_view_change(vc)):
                continue
            valid[vc.sender] = vc
        if len(valid) < self.quorum:
            self.dropped["invalid"] += 1
            return
        base_parent = self.app.store.get_block_hash(msg.height - 1) if hasattr(self.app, "store") else self.app.head().block_hash
        carried = carried_forward(self.suite, msg.height, base_parent, list(valid.values()))
        # Built before some of our commits (we caught up since): what it carries below our
        # watermark must be exactly what we committed there.
        for height, _, block_hash in carried:
            if height < self.height and self.app.store.get_block_hash(height) != block_hash:  # type: ignore[attr-defined]
                self.dropped["invalid"] += 1
                log.warning("event=pbft_new_view_conflicts height=%d view=%d", height, msg.view)
                return
        carried = [c for c in carried if c[0] >= self.height]
        self.last_new_view = msg
        self.view = msg.view
        for v in [v for v in self.view_changes if v <= msg.view]:
            del self.view_changes[v]
        self.own_view_changes = {v: vc for v, vc in self.own_view_changes.items() if v > msg.view}
        self.proposal_timer.cancel()
        self._arm_round_timer()
        log.info("event=pbft_new_view height=%d view=%d carried=%d", self.height, msg.view, len(carried))
        self.carried_total += len(carried)
        for height, encoded, _ in carried:
            self._accept_proposal(height, msg.view, encoded, None)
            if self.in_view_change:
                return
        for pre in self.early.pop(msg.view, []):
            if pre.height >= self.height:
                self._on_preprepare(pre)
        for v in [v for v in self.early if v <= msg.view]:
            del self.early[v]
        self._schedule_proposal()
