"""PBFT's view change: leaving a view whose primary fails, and entering the next one safely.

A validator whose round timer expires (no commit for a whole timeout) broadcasts VIEW-CHANGE
carrying its prepared certificates for each height in flight, in order. 2f+1 of them let the
next primary send NEW-VIEW. Every receiver computes the same blocks to carry forward from the
view changes in it (``viewchange.carried_forward``): height by height, the highest-view
prepared block, as long as it extends the block chosen below it. These are re-proposed byte for
byte in the new view; anything above them is proposed afresh. This is what keeps a block
committed anywhere from being replaced.

Liveness rules (each found by seed sweeps on the simulated network):
- view-change timers count from the 2f+1 quorum, not from our own request, so one validator
  cannot race views ahead of the rest;
- a validator stuck in a view change repeats every request it sent at this watermark;
- a primary repeats its NEW-VIEW to validators that keep asking for its view;
- a validator whose timer fires while the others are visibly committing catches up instead;
- having asked to leave view v, a validator never votes in it again, at any height.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from consensus.messages import verify_message
from consensus.pbft.buffers import MessageBuffers
from consensus.pbft.messages import NewView, ViewChange
from consensus.pbft.ordering import Ordering
from consensus.pbft.state import FUTURE_WINDOW, VIEW_WINDOW, PbftState
from consensus.pbft.viewchange import carried_forward, view_change_is_valid

log = logging.getLogger("consortia.pbft")

MAX_VIEW_BACKOFF = 6


class ViewChanger:
    def __init__(self, state: PbftState, buffers: MessageBuffers, ordering: Ordering, *, resend: Callable[[int], None]) -> None:
        self.s = state
        self.buffers = buffers
        self.ordering = ordering
        self.resend = resend  # repeat our own messages for the lowest n heights
        # View change state for the current low watermark; reset whenever a block commits.
        self.view_changes: dict[int, dict[bytes, ViewChange]] = defaultdict(dict)
        self.own_view_changes: dict[int, ViewChange] = {}  # ours at this watermark, by view: repeated on timeouts
        self.new_view_sent: set[int] = set()
        self.last_new_view: NewView | None = None  # the last view entered by NEW-VIEW; repeated to validators that missed it

    # --- the round timer -----------------------------------------------------------------------

    def _round_timeout_ms(self) -> int:
        s = self.s
        params = s.app.params()
        changes = s.view - s.height_start_view
        backoff = params.consensus_timeout_ms * (2 ** min(changes, MAX_VIEW_BACKOFF))
        return backoff + (params.block_interval_ms if changes == 0 else 0)

    def arm_round_timer(self) -> None:
        """Time the round, while we are a validator: the set is read afresh at every watermark,
        so a node promoted at this height starts here, and a demoted or removed one stops."""
        s = self.s
        if not s.stopped and s.is_validator:
            s.env.set_timer("round", self._round_timeout_ms(), self.on_round_timeout)
            self._arm_nudge()
        else:
            s.env.cancel_timer("round")
            s.env.cancel_timer("nudge")

    def _arm_nudge(self) -> None:
        """Well before the round times out, repeat what we said for the lowest heights: a lost
        message (a link that was still connecting, a full queue) then costs a fraction of the
        timeout instead of a view change."""
        delay = max(100, self.s.app.params().consensus_timeout_ms // 3)
        height = self.s.height
        self.s.env.set_timer("nudge", delay, lambda: self._on_nudge(height))

    def _on_nudge(self, height: int) -> None:
        if self.s.stopped or height != self.s.height or not self.s.is_validator:
            return
        self.resend(2)
        self._arm_nudge()

    def on_round_timeout(self) -> None:
        s = self.s
        if s.stopped or not s.is_validator:
            return
        if s.in_view_change and len(self.view_changes.get(s.vc_target, {})) < s.quorum:
            # Too few others have given up on this view yet: repeat our request (links lose
            # messages) but do not race ahead to the next view alone.
            # All of them: a validator that missed our request for an earlier view may still
            # be waiting for a quorum there, and cannot follow us higher without it.
            for vc in self.own_view_changes.values():
                s.env.broadcast(vc)
            self._arm_view_change_timer()
            return
        log.info("event=pbft_round_timeout height=%d view=%d", s.height, s.view)
        self.resend(2)  # a lost message may be all that is missing
        ahead = self._decided_elsewhere()
        if ahead is not None and not s.in_view_change:
            # The others are committing in this view; we are the one behind. Leaving the view
            # would take us out of consensus until the next view change: catch up instead.
            s.env.request_sync(ahead, None)
            self.arm_round_timer()
            return
        self.start_view_change(max(s.view, s.vc_target) + 1)

    def _decided_elsewhere(self) -> int | None:
        """A height at or above our watermark that others have evidently committed, if any: 2f+1
        COMMITs for one block in a slot, or COMMITs beyond the window from f+1 validators (so
        at least one honest one; a lone Byzantine validator cannot keep us from changing views)."""
        s = self.s
        for h in sorted(s.slots, reverse=True):
            if any(len(votes) >= s.quorum for votes in s.slots[h].commits.values()):
                return h
        if len(self.buffers.future_commit_senders()) >= s.faulty + 1:
            return self.buffers.highest_future_commit()
        return None

    # --- VIEW-CHANGE ---------------------------------------------------------------------------

    def start_view_change(self, new_view: int) -> None:
        s = self.s
        if new_view <= s.vc_target or not s.is_validator:
            return
        s.vc_target = new_view
        s.journal.record_view_change(new_view)
        s.view_changes_total += 1
        self.ordering.proposal_timer.cancel()
        msg = s.sign(ViewChange(s.height, new_view, s.prepared_run(), s.key.public_bytes))
        self.own_view_changes[new_view] = msg
        s.env.broadcast(msg)
        self.on_view_change(msg)
        self._arm_view_change_timer()

    def _arm_view_change_timer(self) -> None:
        """While fewer than 2f+1 validators want the new view, time out only to repeat our
        request; once they do, give the new primary a (backed-off) timeout before asking for the
        view after. Counting from the quorum, not from our own request, keeps honest timers in
        step, so one validator cannot race views ahead of the rest."""
        s = self.s
        timeout = s.app.params().consensus_timeout_ms
        if len(self.view_changes.get(s.vc_target, {})) >= s.quorum:
            timeout *= 2 ** min(s.vc_target - s.height_start_view, MAX_VIEW_BACKOFF)
        s.env.set_timer("round", timeout, self.on_round_timeout)

    def _valid_view_change(self, vc: ViewChange) -> bool:
        s = self.s
        return view_change_is_valid(s.suite, s.chain_id, s.validators, s.quorum, vc)

    def on_view_change(self, msg: ViewChange) -> None:
        s = self.s
        if msg.new_view <= s.view:
            s.dropped["wrong_view"] += 1
            if msg.new_view == s.view and self.last_new_view is not None and self.last_new_view.view == s.view:
                # The sender missed the NEW-VIEW that opened our view (it keeps asking): repeat it.
                s.env.broadcast(self.last_new_view)
            return
        if msg.new_view > s.view + VIEW_WINDOW:
            s.dropped["wrong_view"] += 1
            return
        if msg.sender in self.view_changes[msg.new_view]:
            return
        if msg.sender != s.key.public_bytes and not self._valid_view_change(msg):
            s.dropped["invalid"] += 1
            return
        self.view_changes[msg.new_view][msg.sender] = msg
        if msg.new_view == s.vc_target and len(self.view_changes[msg.new_view]) == s.quorum and msg.sender != s.key.public_bytes:
            self._arm_view_change_timer()
        # f+1 validators want a higher view: at least one honest one timed out, so join them.
        higher = [v for v, vcs in self.view_changes.items() if v > s.vc_target and len(vcs) >= s.faulty + 1]
        if higher:
            self.start_view_change(min(higher))
        vcs = self.view_changes[msg.new_view]
        if len(vcs) >= s.quorum and s.primary(msg.new_view) == s.key.public_bytes and msg.new_view not in self.new_view_sent:
            self.new_view_sent.add(msg.new_view)
            nv = s.sign(NewView(s.height, msg.new_view, tuple(vcs.values())[: s.quorum], s.key.public_bytes))
            s.env.broadcast(nv)
            self.on_new_view(nv)

    # --- NEW-VIEW ------------------------------------------------------------------------------

    def on_new_view(self, msg: NewView) -> None:
        s = self.s
        fresh_view = msg.view > s.view or not any(msg.view in slot.accepted for slot in s.slots.values())
        entered_before = self.last_new_view is not None and msg.view == self.last_new_view.view
        if msg.view < s.view or entered_before or not fresh_view:
            s.dropped["wrong_view"] += 1
            return
        if msg.height < s.height - FUTURE_WINDOW:
            s.dropped["stale"] += 1
            return
        if msg.sender != s.primary(msg.view):
            s.dropped["not_primary"] += 1
            return
        allowed = set(s.validators)
        valid: dict[bytes, ViewChange] = {}
        for vc in msg.view_changes:
            if vc.sender not in allowed or vc.sender in valid or vc.height != msg.height or vc.new_view != msg.view:
                continue
            known = self.view_changes.get(msg.view, {}).get(vc.sender)
            if known != vc and not (verify_message(s.suite, s.chain_id, vc) and self._valid_view_change(vc)):
                continue
            valid[vc.sender] = vc
        if len(valid) < s.quorum:
            s.dropped["invalid"] += 1
            return
        # Unknown only for a NEW-VIEW at height 0, which carries nothing: no block has parent b"".
        base_parent = s.app.store.get_block_hash(msg.height - 1) or b""
        carried = carried_forward(s.suite, msg.height, base_parent, list(valid.values()))
        # Built before some of our commits (we caught up since): what it carries below our
        # watermark must be exactly what we committed there.
        for height, _, block_hash in carried:
            if height < s.height and s.app.store.get_block_hash(height) != block_hash:
                s.dropped["invalid"] += 1
                log.warning("event=pbft_new_view_conflicts height=%d view=%d", height, msg.view)
                return
        carried = [c for c in carried if c[0] >= s.height]
        self.last_new_view = msg
        s.view = msg.view
        for v in [v for v in self.view_changes if v <= msg.view]:
            del self.view_changes[v]
        self.own_view_changes = {v: vc for v, vc in self.own_view_changes.items() if v > msg.view}
        self.ordering.proposal_timer.cancel()
        self.arm_round_timer()
        log.info("event=pbft_new_view height=%d view=%d carried=%d", s.height, msg.view, len(carried))
        s.env.view_changed(msg.view, s.height)
        s.carried_total += len(carried)
        for height, encoded, _ in carried:
            self.ordering.accept_proposal(height, msg.view, encoded, None)
            if s.in_view_change:
                return
        self.ordering.forget_old_views()
        for pre in self.buffers.release_early(msg.view):
            if pre.height >= s.height:
                self.ordering.on_preprepare(pre)
        self.ordering.schedule_proposal()

    # --- after the watermark moved ---------------------------------------------------------------

    def on_watermark_moved(self) -> None:
        """View changes report prepared blocks from the low watermark up, so they are per height:
        start afresh, asking again for a view we had asked for."""
        s = self.s
        self.view_changes = defaultdict(dict)
        if s.in_view_change:
            # Having asked to leave view v, we never vote in it again, at any height: a NEW-VIEW
            # built from our request relies on that. Ask again from the new watermark.
            self.repeat_view_change()
        else:
            self.own_view_changes = {}
            # The timeout level a height needed decays by one per committed height instead of
            # dropping to the base at once: on a node that is slow for a while (overloaded, a
            # large backlog), each height would otherwise start at the base timeout, time out
            # again and change views again, committing a block or two a minute (measured under
            # a 300 tx/s backlog on a loaded 2-core machine, 2026-12-02).
            level = s.view - s.height_start_view
            s.height_start_view = s.view - max(0, level - 1)
            self.arm_round_timer()

    def repeat_view_change(self) -> None:
        """Ask again, from the current watermark (after a commit or a restart), for ``vc_target``
        and for the views between ours and it: the others may still wait for a quorum for a
        lower one (we asked for it while our messages were lost, or before a restart) and cannot
        follow us higher without it. Asking to leave for a view below ``vc_target`` promises
        nothing new: we vote in no view below ``vc_target`` either way."""
        s = self.s
        if not s.is_validator:
            return  # demoted or removed at this watermark: nothing of ours counts any more
        prepared = s.prepared_run()
        self.own_view_changes = {}
        for view in range(max(s.view + 1, s.vc_target - VIEW_WINDOW + 1), s.vc_target + 1):
            vc = s.sign(ViewChange(s.height, view, prepared, s.key.public_bytes))
            self.own_view_changes[view] = vc
            s.env.broadcast(vc)
            self.view_changes[view][s.key.public_bytes] = vc
        self._arm_view_change_timer()
