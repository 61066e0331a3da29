"""Who is answering: the evidence that the engine cannot make progress for want of a quorum.

Every honest validator speaks at least every ``consensus_timeout_ms / 3`` while a height is open
(its nudge re-sends its votes or view change) and at every block otherwise. So a validator not
heard from (a message with a valid signature about a height we have not committed) within ``window_ms`` = 3 x max(consensus timeout,
block interval) is silent: crashed, cut off, or withholding. When fewer than a quorum (counting
this node) were heard, no block can commit whatever the engine does: that is a stall, reported in
``node_info.engine.liveness`` and ``/health``, and logged once when it starts and once when it ends.
"""

from __future__ import annotations

import logging
from typing import Any

from consensus.pbft.state import PbftState

log = logging.getLogger("consortia.pbft")

TIMER = "liveness"


class Liveness:
    def __init__(self, state: PbftState) -> None:
        self.s = state
        self.last_heard: dict[bytes, int] = {}  # validator -> when a verified message from it last arrived (ms)
        self.started_ms = 0  # everyone counts as heard at start: no stall is reported before a window passed
        self.stalled_since_ms: int | None = None  # as logged: set and cleared by the periodic check only

    def window_ms(self) -> int:
        params = self.s.app.params()
        return 3 * max(params.consensus_timeout_ms, params.block_interval_ms)

    def start(self) -> None:
        self.started_ms = self.s.env.now_ms()
        self._arm()

    def stop(self) -> None:
        self.s.env.cancel_timer(TIMER)

    def heard(self, validator: bytes) -> None:
        self.last_heard[validator] = self.s.env.now_ms()

    def _arm(self) -> None:
        self.s.env.set_timer(TIMER, max(100, self.s.app.params().consensus_timeout_ms // 2), self._check)

    def _check(self) -> None:
        s = self.s
        if s.stopped:
            return
        self._arm()
        if not s.is_validator:
            self.stalled_since_ms = None
            return
        now = s.env.now_ms()
        heard, silent, since = self._measure(now)
        names = ",".join(v.hex()[:16] for v in silent) or "-"
        if since is not None and self.stalled_since_ms is None:
            self.stalled_since_ms = since
            log.warning("event=consensus_stalled height=%d heard_from=%d quorum=%d validators=%d window_ms=%d silent=%s",
                        s.height, heard, s.quorum, len(s.validators), self.window_ms(), names)
        elif since is None and self.stalled_since_ms is not None:
            log.warning("event=consensus_resumed height=%d heard_from=%d quorum=%d validators=%d stalled_ms=%d",
                        s.height, heard, s.quorum, len(s.validators), now - self.stalled_since_ms)
            self.stalled_since_ms = None

    def _measure(self, now: int) -> tuple[int, list[bytes], int | None]:
        """(validators heard within the window, those silent, when the quorum was lost or None)."""
        me = self.s.key.public_bytes
        window = self.window_ms()
        seen = {v: now if v == me else self.last_heard.get(v, self.started_ms) for v in self.s.validators}
        silent = sorted(v for v, t in seen.items() if now - t > window)
        heard = len(seen) - len(silent)
        quorum = self.s.quorum
        if heard >= quorum:
            return heard, silent, None
        # The quorum-th most recent validator fell silent when its last message left the window.
        times = sorted(seen.values(), reverse=True)
        return heard, silent, times[quorum - 1] + window

    def report(self) -> dict[str, Any]:
        """``node_info.engine.liveness`` (docs/json-rpc.md)."""
        now = self.s.env.now_ms()
        heard, silent, _ = self._measure(now)
        return {
            "heard_from": heard,
            "quorum": self.s.quorum,
            "validators": len(self.s.validators),
            "window_ms": self.window_ms(),
            "silent": ["0x" + v.hex() for v in silent],
            "stalled_since_ms": self.stalled_since_ms,
        }
