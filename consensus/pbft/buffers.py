"""The three places PBFT keeps a message it cannot use yet, and when each is let out.

- **future**: messages for heights beyond the active window (and view changes / new views about
  a later watermark), per sender and bounded, replayed each time the watermark moves;
- **early**: PRE-PREPAREs for a view we have not entered, held until its NEW-VIEW arrives;
- **parked**: validated-later proposals whose parent proposal has not arrived, keyed by
  (height, view), released when the parent is accepted or committed.

Everything here is bounded: a Byzantine sender can fill only its own share.
"""

from __future__ import annotations

from collections import defaultdict

from consensus.pbft.messages import Commit, ConsensusMessage, NewView, PrePrepare, ViewChange

MAX_FUTURE_PER_SENDER = 256


class MessageBuffers:
    def __init__(self) -> None:
        self.future: dict[bytes, list[ConsensusMessage]] = defaultdict(list)
        self.early: dict[int, list[PrePrepare]] = defaultdict(list)
        self.parked: dict[tuple[int, int], tuple[bytes, bytes | None]] = {}  # (height, view) -> (encoding, proposer)

    # --- future ------------------------------------------------------------------------------

    def hold_future(self, msg: ConsensusMessage) -> bool:
        """Keep ``msg`` until the watermark reaches it; False if its sender's share is full."""
        queue = self.future[msg.sender]
        if len(queue) >= MAX_FUTURE_PER_SENDER:
            return False
        queue.append(msg)
        return True

    def take_future(self) -> list[ConsensusMessage]:
        """Every held message, in arrival order per sender, leaving the buffer empty: the caller
        replays each against the watermark as it stands at that moment (``waits``), since
        replaying one may commit a block and move it."""
        pending = [m for msgs in self.future.values() for m in msgs]
        self.future = defaultdict(list)
        return pending

    def put_back(self, msg: ConsensusMessage) -> None:
        """Return a replayed message that still waits (it was within its sender's share)."""
        self.future[msg.sender].append(msg)

    @staticmethod
    def waits(msg: ConsensusMessage, height: int, window: int) -> bool:
        """Whether ``msg`` is still ahead of watermark ``height``: beyond the window, or a view
        change / new view about a later watermark."""
        return msg.height >= height + window or (isinstance(msg, (ViewChange, NewView)) and msg.height > height)

    def future_commit_senders(self) -> set[bytes]:
        return {sender for sender, msgs in self.future.items() if any(isinstance(m, Commit) for m in msgs)}

    def highest_future_commit(self) -> int:
        return max(m.height for msgs in self.future.values() for m in msgs if isinstance(m, Commit))

    # --- early ---------------------------------------------------------------------------------

    def hold_early(self, pre: PrePrepare, limit: int) -> None:
        early = self.early[pre.view]
        if len(early) < limit:
            early.append(pre)

    def release_early(self, view: int) -> list[PrePrepare]:
        """The proposals held for ``view``; those for views up to it are forgotten."""
        out = self.early.pop(view, [])
        for v in [v for v in self.early if v <= view]:
            del self.early[v]
        return out

    # --- parked --------------------------------------------------------------------------------

    def park(self, height: int, view: int, encoded: bytes, proposer: bytes | None) -> None:
        self.parked[(height, view)] = (encoded, proposer)

    def parked_at(self, height: int, view: int) -> tuple[bytes, bytes | None] | None:
        return self.parked.get((height, view))

    def unpark(self, height: int, view: int) -> tuple[bytes, bytes | None] | None:
        return self.parked.pop((height, view), None)

    def forget_below(self, height: int) -> None:
        """Heights below the watermark are decided: their parked proposals can never be used."""
        for key in [k for k in self.parked if k[0] < height]:
            del self.parked[key]
