"""When each transaction was admitted here, to time it to its commit, in bounded memory."""

from __future__ import annotations

from collections import OrderedDict

TRACKED_TXS = 50_000  # the default pool capacity: beyond it, the oldest admissions are forgotten


class AdmissionTimes:
    """Admission instants by transaction hash, oldest forgotten first beyond ``limit``.

    A transaction that never commits (dropped, expired, committed while this node was away)
    stays until newer admissions push it out, so memory is bounded by ``limit`` entries."""

    def __init__(self, limit: int = TRACKED_TXS) -> None:
        self.limit = limit
        self.forgotten = 0
        self._at: OrderedDict[bytes, float] = OrderedDict()

    def admitted(self, tx_hash: bytes, at: float) -> None:
        if tx_hash in self._at:
            return  # the first admission counts
        self._at[tx_hash] = at
        if len(self._at) > self.limit:
            self._at.popitem(last=False)
            self.forgotten += 1

    def committed(self, tx_hash: bytes) -> float | None:
        """When ``tx_hash`` was admitted (and forget it), or None if it was not tracked."""
        return self._at.pop(tx_hash, None)

    def __len__(self) -> int:
        return len(self._at)
