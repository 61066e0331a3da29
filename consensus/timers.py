"""The proposal timer shared by the PBFT and Raft cores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consensus.api import ConsensusEnv


class ProposalTimer:
    """A ``propose`` timer that can be brought forward but never pushed back, so a steady stream
    of transactions (each asking for a proposal soon) cannot keep postponing the block."""

    NAME = "propose"

    def __init__(self, env: ConsensusEnv, callback: Callable[[], None]) -> None:
        self.env = env
        self.callback = callback
        self.due: int | None = None

    def schedule(self, delay_ms: int) -> None:
        due = self.env.now_ms() + delay_ms
        if self.due is not None and self.due <= due:
            return
        self.due = due
        self.env.set_timer(self.NAME, delay_ms, self._fire)

    def cancel(self) -> None:
        self.due = None
        self.env.cancel_timer(self.NAME)

    def _fire(self) -> None:
        self.due = None
        self.callback()
