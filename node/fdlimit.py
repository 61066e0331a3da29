"""Open-file descriptors: how many the process may have, how many it has, and raising the limit.

Every connection costs a descriptor, and so do the database's table files and the verifier's
pipes. When the process reaches its soft limit (``RLIMIT_NOFILE``), ``accept`` fails, and
worse, the database cannot open a file and the node stops. The listeners therefore refuse new
connections while the count is within a reserve of the limit (``FdGauge``), and the node raises
its soft limit at start as far as the hard limit allows (``raise_soft_limit``).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

FD_DIR = "/proc/self/fd"


@dataclass(frozen=True)
class LimitChange:
    before: int  # the soft limit found at start
    soft: int  # the soft limit now
    hard: int
    wanted: int

    @property
    def short_of_wanted(self) -> bool:
        return self.soft < self.wanted


def _unlimited(value: int) -> int:
    return 1 << 62 if value == resource.RLIM_INFINITY else value


def soft_limit() -> int:
    return _unlimited(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def raise_soft_limit(wanted: int) -> LimitChange:
    """Raise the soft open-file limit to ``wanted``, or as far as the hard limit allows; never
    lower it (0 leaves it alone)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, _unlimited(hard))
    if wanted > 0 and target > _unlimited(soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    now_soft, now_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return LimitChange(before=_unlimited(soft), soft=_unlimited(now_soft), hard=_unlimited(now_hard), wanted=wanted)


def count_open_fds() -> int | None:
    """Descriptors open in this process, or None where /proc is not available."""
    try:
        return len(os.listdir(FD_DIR)) - 1  # listdir holds one itself while it reads
    except OSError:
        return None


class FdGauge:
    """The open-descriptor count, re-read at most every ``max_age`` seconds and adjusted in between
    by what the caller says it opened, so a flood of accepts does not list /proc for each."""

    def __init__(self, *, max_age: float = 0.2, counter: Callable[[], int | None] = count_open_fds,
                 limit: Callable[[], int] = soft_limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.counter = counter
        self.limit = limit
        self.clock = clock
        self._count: int | None = None
        self._limit = 0
        self._read_at = float("-inf")

    def _refresh(self) -> None:
        now = self.clock()
        if now - self._read_at >= self.max_age:
            self._count = self.counter()
            self._limit = self.limit()
            self._read_at = now

    def opened(self, n: int = 1) -> None:
        if self._count is not None:
            self._count += n

    def headroom(self) -> int | None:
        """Descriptors left below the soft limit (None if they cannot be counted here)."""
        self._refresh()
        if self._count is None:
            return None
        return self._limit - self._count

    def open_fds(self) -> int | None:
        self._refresh()
        return self._count

    def soft_limit(self) -> int:
        self._refresh()
        return self._limit
