"""PBFT's normal case: the primary proposes, everyone prepares and commits, blocks are decided.

- The primary of view v proposes a block for each height with room in the window, building it
  on its own uncommitted block below (``Application.propose(parent_hash=...)``).
- Every validator re-executes a proposal over its parent and broadcasts PREPARE; 2f+1 prepares
  make the block *prepared*. COMMIT for height h goes out only once our COMMIT for the parent at
  h-1 has, so whoever commits h+1 has prepared h.
- 2f+1 COMMITs for a known block at the watermark decide it: the block is committed with its
  certificate and the core slides the window (``on_decided``).

A proposal that cannot be valid (an equivocating or invalid one) asks the view-change service
to leave the view (``leave_view``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from consensus.pbft.buffers import MessageBuffers
from consensus.pbft.messages import Commit, Prepare, PreparedCert, PrePrepare
from consensus.pbft.state import VIEW_WINDOW, PbftState, Slot
from consensus.timers import ProposalTimer
from node.errors import ConsortiaError, NodeListPending
from node.wire.types import Block, CommitCertificate, Vote

log = logging.getLogger("consortia.pbft")

CLOCK_DRIFT_MS = 30_000


class Ordering:
    def __init__(
        self,
        state: PbftState,
        buffers: MessageBuffers,
        *,
        leave_view: Callable[[int], None],
        on_decided: Callable[[], None],
    ) -> None:
        self.s = state
        self.buffers = buffers
        self.leave_view = leave_view
        self.on_decided = on_decided
        self.proposal_timer = ProposalTimer(state.env, self.propose)

    # --- proposing -------------------------------------------------------------------------

    def next_proposal_height(self) -> int | None:
        """The lowest height with no proposal of ours in this view, if it is inside the window."""
        s = self.s
        h = s.height
        while h in s.slots and s.view in s.slots[h].accepted:
            h += 1
        return h if h < s.height + s.window else None

    def _txs_in_flight(self) -> int:
        total = 0
        for slot in self.s.slots.values():
            entry = slot.accepted.get(self.s.view)
            if entry is not None:
                total += len(slot.blocks[entry[1]].txs)
        return total

    def _worth_proposing(self, h: int) -> bool:
        """Whether transactions wait for a block at height ``h``. Above the lowest uncommitted
        height (a block of ours is still in flight) it takes ``pbft_pipeline_min_txs`` of them:
        fewer go into the block proposed when that one commits, which saves the network a round
        of consensus messages, votes and writes per small block while the load is moderate."""
        s = self.s
        at_least = 1 if h == s.height else s.app.params().pbft_pipeline_min_txs
        return s.app.has_pending(self._txs_in_flight(), at_least)

    def schedule_proposal(self) -> None:
        """Arrange our next proposal, if we are the primary and the window has room: soon when
        transactions wait, after the block interval for an empty block when nothing is in flight."""
        s = self.s
        if s.stopped or s.in_view_change or not s.is_primary():
            self.proposal_timer.cancel()
            return
        h = self.next_proposal_height()
        if h is None:
            return
        params = s.app.params()
        if self._worth_proposing(h):
            self.proposal_timer.schedule(params.min_seal_ms)
        elif h == s.height:
            self.proposal_timer.schedule(params.block_interval_ms)

    def on_transactions(self) -> None:
        """New transactions arrived: an idle primary proposes soon instead of at the interval."""
        due = self.proposal_timer.due
        if due is not None and due <= self.s.env.now_ms() + self.s.app.params().min_seal_ms:
            return  # a proposal is already due soon: nothing to bring forward (called per transaction)
        self.schedule_proposal()

    def propose(self) -> None:
        s = self.s
        if s.stopped or s.in_view_change or not s.is_primary():
            return
        h = self.next_proposal_height()
        if h is None or (h > s.height and not self._worth_proposing(h)):
            return
        if s.journal.signed_before("preprepare", h, s.view) is not None:
            return  # proposed here before a restart and lost it: never a second block; the view will change
        parent_hash = None if h == s.height else s.slots[h - 1].accepted[s.view][1]
        try:
            proposal = s.app.propose(
                height=h,
                view=s.view,
                proposer=s.key.public_bytes,
                timestamp_ms=s.env.now_ms(),
                max_txs=s.app.params().block_tx_limit,
                parent_hash=parent_hash,
            )
        except ConsortiaError as exc:  # e.g. the parent changes the node list: wait for it to commit
            log.info("event=pbft_propose_deferred height=%d reason=%r", h, exc.message)
            return
        msg = s.sign(PrePrepare(h, s.view, proposal.block.encode(), s.key.public_bytes))
        s.journal.record("preprepare", h, s.view, proposal.block_hash)
        s.slot(h).own_proposal = msg
        s.env.broadcast(msg)
        self.accept_proposal(h, s.view, msg.block, s.key.public_bytes)
        self.schedule_proposal()

    # --- PRE-PREPARE ---------------------------------------------------------------------------

    def on_preprepare(self, msg: PrePrepare) -> None:
        s = self.s
        if s.view < msg.view <= max(s.vc_target, s.view + 1) and msg.sender == s.primary(msg.view):
            self.buffers.hold_early(msg, s.window)  # the NEW-VIEW that opens this view may still be on its way
            return
        if msg.view != s.view or s.in_view_change:
            s.dropped["wrong_view"] += 1
            return
        if msg.sender != s.primary(msg.view):
            s.dropped["not_primary"] += 1
            return
        self.accept_proposal(msg.height, msg.view, msg.block, msg.sender)

    def accept_proposal(self, height: int, view: int, encoded: bytes, proposer: bytes | None) -> None:
        """Validate the block proposed for (height, view) and prepare it; ``proposer`` None means a
        block carried forward by NEW-VIEW (proposed by an earlier primary)."""
        s = self.s
        slot = s.slot(height)
        known = slot.accepted.get(view) or self.buffers.parked_at(height, view)
        if known is not None:
            if known[0] != encoded:
                s.dropped["equivocation"] += 1
                log.warning("event=pbft_equivocation kind=preprepare height=%d view=%d sender=%s", height, view,
                            s.primary(view).hex()[:16])
                self.leave_view(s.view + 1)
            return
        if proposer is not None and proposer != s.primary(view):
            # Held while a change of the validator set was pending, and that change made someone
            # else the primary of this view.
            s.dropped["not_primary"] += 1
            return
        if height == s.height:
            parent_hash = s.app.head().block_hash
        else:
            below = s.slots.get(height - 1)
            parent = below.accepted.get(view) if below is not None else None
            if parent is None:
                self.buffers.park(height, view, encoded, proposer)  # its parent's proposal has not arrived yet
                return
            parent_hash = parent[1]
        try:
            block, block_hash, reason = self._validate_block(slot, encoded, proposer, parent_hash)
        except NodeListPending:
            # Its parent changes the validator set: only once the parent commits do we know who
            # may propose and vote at this height. Held until then, not held against the primary.
            self.buffers.park(height, view, encoded, proposer)
            return
        if block is None:
            s.dropped["invalid_proposal"] += 1
            log.warning("event=pbft_invalid_proposal height=%d view=%d proposer=%s reason=%r", height, view,
                        (proposer or b"").hex()[:16], reason)
            # A primary that proposes an invalid block is replaced at once.
            self.leave_view(s.view + 1)
            return
        slot.accepted[view] = (encoded, block_hash)
        s.max_in_flight = max(s.max_in_flight, len(s.in_flight()))
        self._send_prepare(slot, view, block_hash)
        self.check_prepared(slot, view, block_hash)
        for key in list(slot.commits):
            self.check_committed(slot, *key)
        child = self.buffers.unpark(height + 1, view)
        if child is not None:
            self.accept_proposal(height + 1, view, *child)

    def _validate_block(self, slot: Slot, encoded: bytes, proposer: bytes | None,
                        parent_hash: bytes) -> tuple[Block | None, bytes, str]:
        """(block, hash, "") if the proposal is valid here, else (None, b"", why not)."""
        s = self.s
        try:
            block = Block.decode(encoded)
        except ConsortiaError as exc:
            return None, b"", f"undecodable block: {exc.message}"
        block_hash = s.suite.hash(block.header.encode())
        if block_hash in slot.blocks:
            return slot.blocks[block_hash], block_hash, ""
        hdr = block.header
        reason = ""
        if block.height != slot.height:
            reason = f"block height {block.height} in a proposal for {slot.height}"
        elif hdr.parent_hash != parent_hash:
            reason = "block does not extend the block below it"
        elif proposer is not None and hdr.proposer != proposer:
            reason = "block names another proposer"
        elif hdr.proposer not in s.validators:
            reason = "block proposer is not a validator"
        elif hdr.timestamp_ms > s.env.now_ms() + CLOCK_DRIFT_MS:
            reason = "block timestamp is too far in the future"
        if reason:
            return None, b"", reason
        try:
            s.app.validate(block)
        except NodeListPending:
            raise
        except ConsortiaError as exc:
            return None, b"", exc.message
        slot.blocks[block_hash] = block
        return block, block_hash, ""

    # --- PREPARE -------------------------------------------------------------------------------

    def _send_prepare(self, slot: Slot, view: int, block_hash: bytes) -> None:
        s = self.s
        if view in slot.sent_prepare or not s.is_validator:
            return
        if not s.journal.may_sign("prepare", slot.height, view, block_hash):
            s.dropped["conflicts_with_journal"] += 1  # we prepared another block here before a restart
            return
        slot.sent_prepare.add(view)
        s.journal.record("prepare", slot.height, view, block_hash)
        msg = s.sign(Prepare(slot.height, view, block_hash, s.key.public_bytes))
        slot.own_votes.append(msg)
        s.env.broadcast(msg)
        self.on_prepare(msg)

    def on_prepare(self, msg: Prepare) -> None:
        s = self.s
        if msg.view > s.view + VIEW_WINDOW:
            s.dropped["wrong_view"] += 1
            return
        slot = s.slot(msg.height)
        if not self._first_vote(slot.prepares, msg):
            return
        slot.prepares[(msg.view, msg.block_hash)][msg.sender] = msg
        self.check_prepared(slot, msg.view, msg.block_hash)

    def _first_vote(self, votes: dict[tuple[int, bytes], dict[bytes, Any]], msg: Prepare | Commit) -> bool:
        """An honest validator votes for one block per (height, view) (its journal makes sure,
        across restarts too): a second vote for another block is equivocation. It is counted,
        logged and ignored, which also bounds what one sender can make us keep per height."""
        for (view, block_hash), senders in votes.items():
            if view == msg.view and block_hash != msg.block_hash and msg.sender in senders:
                self.s.dropped["equivocation"] += 1
                log.warning("event=pbft_equivocation kind=%s height=%d view=%d sender=%s", msg.kind, msg.height, msg.view,
                            msg.sender.hex()[:16])
                return False
        return True

    def check_prepared(self, slot: Slot, view: int, block_hash: bytes) -> None:
        s = self.s
        if view != s.view or s.in_view_change or slot.accepted.get(view, (b"", b""))[1] != block_hash:
            return
        votes = s.current_votes(slot.prepares.get((view, block_hash), {}))
        if len(votes) < s.quorum or (slot.prepared is not None and slot.prepared.view >= view):
            return
        slot.prepared = PreparedCert(view=view, block=slot.accepted[view][0],
                                     votes=tuple(Vote(p.sender, p.signature) for p in votes.values()))
        slot.prepared_hash = block_hash
        self.try_commit(slot)

    # --- COMMIT --------------------------------------------------------------------------------

    def try_commit(self, slot: Slot) -> None:
        """Send COMMIT for the block prepared in this view once its parent has our COMMIT too."""
        s = self.s
        view = s.view
        if slot.prepared is None or slot.prepared.view != view or view in slot.sent_commit or s.in_view_change:
            return
        if not s.is_validator:
            return
        block = slot.blocks[slot.prepared_hash]
        if slot.height > s.height:
            below = s.slots.get(slot.height - 1)
            if below is None or below.sent_commit.get(view) != block.header.parent_hash:
                return
        if not s.journal.may_sign("commit", slot.height, view, slot.prepared_hash):
            s.dropped["conflicts_with_journal"] += 1
            return
        slot.sent_commit[view] = slot.prepared_hash
        s.journal.record("commit", slot.height, view, slot.prepared_hash)
        msg = s.sign(Commit(slot.height, view, slot.prepared_hash, s.key.public_bytes))
        slot.own_votes.append(msg)
        s.env.broadcast(msg)
        self.on_commit(msg)
        child = s.slots.get(slot.height + 1)
        if child is not None:
            self.try_commit(child)

    def on_commit(self, msg: Commit) -> None:
        s = self.s
        if msg.view > s.view + VIEW_WINDOW:
            s.dropped["wrong_view"] += 1
            return
        slot = s.slot(msg.height)
        if not self._first_vote(slot.commits, msg):
            return
        slot.commits[(msg.view, msg.block_hash)][msg.sender] = msg
        self.check_committed(slot, msg.view, msg.block_hash)

    def check_committed(self, slot: Slot, view: int, block_hash: bytes) -> None:
        s = self.s
        votes = s.current_votes(slot.commits.get((view, block_hash), {}))
        if len(votes) < s.quorum or block_hash not in slot.blocks:
            return
        if slot.height != s.height:
            # Decided above a height we have not committed: we missed something below. The
            # round timer (re-sent votes, then catch-up through the others) repairs it.
            return
        block = slot.blocks[block_hash]
        if block.header.parent_hash != s.app.head().block_hash:
            return
        cert = CommitCertificate(
            chain_id=s.chain_id,
            height=slot.height,
            view=view,
            block_hash=block_hash,
            votes=tuple(sorted((Vote(c.sender, c.signature) for c in votes.values()), key=lambda v: v.validator)),
        )
        s.app.commit(block, cert)
        log.debug("event=pbft_committed height=%d view=%d txs=%d", slot.height, view, len(block.txs))
        self.on_decided()

    # --- after the watermark moved ---------------------------------------------------------------

    def forget_old_views(self) -> None:
        """In a new view, proposals of the views before it can no longer gather votes here: keep
        only the blocks still in play (accepted in this view or later, our prepared one, any with
        COMMIT votes, which may be decided elsewhere). A height stuck through many view changes
        otherwise keeps one full block per view and height in flight, in memory, until it
        commits (hundreds of MB per node under a backlog, measured 2026-12-02)."""
        s = self.s
        for slot in s.slots.values():
            slot.accepted = {v: entry for v, entry in slot.accepted.items() if v >= s.view}
            keep = {block_hash for _, block_hash in slot.accepted.values()}
            keep.add(slot.prepared_hash)
            keep.update(block_hash for (_, block_hash), votes in slot.commits.items() if votes)
            slot.blocks = {h: b for h, b in slot.blocks.items() if h in keep}
            for key in [k for k in slot.prepares if k[0] < s.view]:
                del slot.prepares[key]

    def drop_orphaned_proposals(self) -> None:
        """Proposals that no longer extend the committed head (e.g. catch-up committed another
        branch) can never commit: forget them so nothing is built or voted on them."""
        s = self.s
        parents = {s.app.head().block_hash}
        for h in sorted(s.slots):
            slot = s.slots[h]
            for view, (_, block_hash) in list(slot.accepted.items()):
                if slot.blocks[block_hash].header.parent_hash not in parents:
                    del slot.accepted[view]
            parents = {block_hash for _, block_hash in slot.accepted.values()}

    def resume_at_watermark(self) -> None:
        """After the window slid: check a parked proposal whose parent was committed by catch-up,
        then send and count what the lowest height now allows."""
        s = self.s
        parked = self.buffers.unpark(s.height, s.view)
        if parked is not None:
            self.accept_proposal(s.height, s.view, *parked)
        lowest = s.slots.get(s.height)
        if lowest is not None:
            self.try_commit(lowest)
            for key in list(lowest.commits):
                if s.height != lowest.height:
                    break
                self.check_committed(lowest, *key)
