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

The work is split by role over one shared ``PbftState`` (state.py): ``Ordering`` (ordering.py)
runs the normal case, ``ViewChanger`` (viewchanger.py) the view change, ``MessageBuffers``
(buffers.py) holds what cannot be used yet, and the vote journal (journal.py) what was promised.
This class admits messages (sender, height, signature), routes them, and slides the window.
It also keeps when each validator was last heard from, so that a stall for want of a quorum
(more than f validators silent) is reported in ``status()["liveness"]`` and logged once per
change (``event=consensus_stalled`` / ``event=consensus_resumed``).
"""

from __future__ import annotations

import logging
from typing import Any

from consensus.api import Application, ConsensusEnv
from consensus.messages import verify_message
from consensus.pbft.buffers import MessageBuffers
from consensus.pbft.liveness import Liveness
from consensus.pbft.messages import Commit, ConsensusMessage, NewView, Prepare, PrePrepare, ViewChange
from consensus.pbft.ordering import Ordering
from consensus.pbft.state import FUTURE_WINDOW, PbftState
from consensus.pbft.viewchanger import ViewChanger
from node.crypto.base import KeyPair
from node.errors import ConsortiaError

log = logging.getLogger("consortia.pbft")


class PbftCore:
    def __init__(self, app: Application, key: KeyPair, env: ConsensusEnv) -> None:
        self.state = PbftState(app, key, env)
        self.buffers = MessageBuffers()
        self.ordering = Ordering(self.state, self.buffers, leave_view=self._leave_view, on_decided=self.advance)
        self.views = ViewChanger(self.state, self.buffers, self.ordering, resend=self.resend_own_messages)
        self.liveness = Liveness(self.state)

    def _leave_view(self, new_view: int) -> None:
        self.views.start_view_change(new_view)

    # --- what tests and node_info read ---------------------------------------------------------

    @property
    def height(self) -> int:
        return self.state.height

    @property
    def view(self) -> int:
        return self.state.view

    @property
    def vc_target(self) -> int:
        return self.state.vc_target

    @property
    def dropped(self) -> dict[str, int]:
        return self.state.dropped

    @property
    def view_changes(self) -> dict[int, dict[bytes, ViewChange]]:
        return self.views.view_changes

    @property
    def view_changes_total(self) -> int:
        return self.state.view_changes_total

    @property
    def max_in_flight(self) -> int:
        return self.state.max_in_flight

    @property
    def carried_total(self) -> int:
        return self.state.carried_total

    def primary(self, view: int) -> bytes:
        return self.state.primary(view)

    def in_flight(self) -> list[int]:
        return self.state.in_flight()

    def status(self) -> dict[str, Any]:
        s = self.state
        return {
            "engine": "pbft",
            "height": s.height,
            "view": s.view,
            "primary": "0x" + s.primary(s.view).hex(),
            "validators": len(s.validators),
            "window": s.window,
            "in_flight": len(s.in_flight()),
            "max_in_flight": s.max_in_flight,
            "carried_forward": s.carried_total,
            "view_changes": s.view_changes_total,
            "dropped": dict(s.dropped),
            "halted": s.stopped,
            "liveness": self.liveness.report(),
        }

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.liveness.start()
        if self.state.in_view_change:
            self.views.repeat_view_change()  # we had asked to leave this view before a restart
        else:
            self.views.arm_round_timer()
            self.ordering.schedule_proposal()

    def stop(self) -> None:
        self.state.stopped = True
        self.state.env.cancel_timer("round")
        self.state.env.cancel_timer("nudge")
        self.liveness.stop()
        self.ordering.proposal_timer.cancel()

    def on_transactions(self) -> None:
        self.ordering.on_transactions()

    def on_peer_connected(self) -> None:
        """A validator (re)connected and may have missed everything we sent while it was away."""
        self.resend_own_messages(heights=self.state.window)

    def resend_own_messages(self, heights: int) -> None:
        """Broadcast again our proposals and votes for the lowest ``heights`` uncommitted heights,
        and our view-change requests (the receivers drop what they already have)."""
        s = self.state
        if s.stopped or not s.is_validator:
            return
        for h in sorted(s.slots)[:heights]:
            slot = s.slots[h]
            if slot.own_proposal is not None:
                s.env.broadcast(slot.own_proposal)
            for vote in slot.own_votes[-4:]:
                s.env.broadcast(vote)
        for vc in self.views.own_view_changes.values():
            s.env.broadcast(vc)
        last = self.views.last_new_view
        if last is not None and last.sender == s.key.public_bytes and last.view == s.view:
            s.env.broadcast(last)

    # --- receiving -------------------------------------------------------------------------

    def on_message(self, msg: ConsensusMessage) -> None:
        """Handle one decoded message from the network; anything invalid is dropped and counted."""
        s = self.state
        if s.stopped:
            return
        if msg.sender not in s.validators:
            s.dropped["non_validator"] += 1
            return
        height = msg.height
        if height < s.height and not isinstance(msg, NewView):  # a NEW-VIEW stays valid as we commit on
            s.dropped["stale"] += 1
            # Late votes for the block we just committed are normal; anything older means the
            # sender is behind: offer it our blocks (once we know the message is really from it).
            if height < s.height - 1 and verify_message(s.suite, s.chain_id, msg):
                s.env.peer_behind(msg.sender, height)
            return
        if height > s.height + FUTURE_WINDOW:
            s.dropped["out_of_window"] += 1
            return
        if not verify_message(s.suite, s.chain_id, msg):
            s.dropped["bad_signature"] += 1
            return
        if height >= s.height:  # about the heights we work on (an old NEW-VIEW repeated does not count)
            self.liveness.heard(msg.sender)
        beyond_window = height >= s.height + s.window
        about_later_head = isinstance(msg, (ViewChange, NewView)) and height > s.height
        if beyond_window or about_later_head:
            if not self.buffers.hold_future(msg):
                s.dropped["flood"] += 1
            # The sender has committed more than we have: catch up.
            if isinstance(msg, Commit) or about_later_head:
                s.env.request_sync(height - 1, msg.sender)
            return
        self._dispatch(msg)

    def _dispatch(self, msg: ConsensusMessage) -> None:
        try:
            if isinstance(msg, PrePrepare):
                self.ordering.on_preprepare(msg)
            elif isinstance(msg, Prepare):
                self.ordering.on_prepare(msg)
            elif isinstance(msg, Commit):
                self.ordering.on_commit(msg)
            elif isinstance(msg, ViewChange):
                self.views.on_view_change(msg)
            elif isinstance(msg, NewView):
                self.views.on_new_view(msg)
        except ConsortiaError as exc:
            self.state.dropped["invalid"] += 1
            log.info("event=pbft_message_rejected kind=%s sender=%s reason=%r", msg.kind, msg.sender.hex()[:16], exc.message)

    # --- the window slides -----------------------------------------------------------------

    def advance(self) -> None:
        """Slide the window to the height after the app's head (after a commit here or by catch-up)."""
        s = self.state
        new_height = s.app.head().height + 1
        if new_height == s.height:
            return
        s.height = new_height
        s.journal.committed(new_height - 1)
        for h in [h for h in s.slots if h < new_height]:
            del s.slots[h]  # garbage collection: the certificate below is the checkpoint
        self.buffers.forget_below(new_height)
        self.ordering.drop_orphaned_proposals()
        s.view = max(s.view, s.committed_view())
        s.vc_target = max(s.vc_target, s.view)
        self.views.on_watermark_moved()
        self._replay_future()
        self.ordering.resume_at_watermark()
        if s.height == new_height:
            self.ordering.schedule_proposal()

    def _replay_future(self) -> None:
        s = self.state
        for msg in self.buffers.take_future():
            if msg.height < s.height:
                continue
            if msg.sender not in s.validators:
                s.dropped["non_validator"] += 1  # held while it was a validator; a block since removed it
                continue
            if self.buffers.waits(msg, s.height, s.window):
                self.buffers.put_back(msg)
            else:
                self._dispatch(msg)
