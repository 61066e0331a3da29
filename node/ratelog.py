"""A log that says "this happened N times" once per interval instead of N times.

Anything a remote party can trigger at will (a refused connection, a failed accept) must not
write one line per occurrence: at a few hundred per second that is a log flood and a disk-full
attack. ``RateLimitedLog`` writes the first occurrence of a key at once, counts the repeats
within ``interval`` seconds, and writes one line with the count when the key occurs again after
the interval or when ``flush`` runs (call it periodically so the last burst is reported too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

OVERFLOW_KEY = "<other>"


@dataclass
class _Window:
    started: float
    suppressed: int
    level: int
    message: str  # the last suppressed occurrence, with its fields already formatted


class RateLimitedLog:
    """At most one line per key per ``interval`` seconds, each with ``count=`` (occurrences since
    the previous line for that key). At most ``max_keys`` keys are tracked; beyond that, new keys
    share one (so many sources cannot turn into many lines or unbounded memory)."""

    def __init__(self, logger: logging.Logger, *, interval: float = 10.0, max_keys: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self.lines = 0  # lines written (for tests and self-checks)
        self._windows: dict[Hashable, _Window] = {}

    def log(self, level: int, key: Hashable, message: str) -> None:
        """Record one occurrence; ``message`` is the line without its count (``key=value`` fields)."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None and len(self._windows) >= self.max_keys:
            key, message = OVERFLOW_KEY, f"{message} overflow=true"
            window = self._windows.get(key)
        if window is None or now - window.started >= self.interval:
            count = 1 + (window.suppressed if window is not None else 0)
            self._windows[key] = _Window(now, 0, level, message)
            self._emit(level, message, count)
            return
        window.suppressed += 1
        window.level = max(window.level, level)
        window.message = message

    def flush(self) -> None:
        """Write the counts of windows that have ended, and forget keys quiet for a whole interval."""
        now = self.clock()
        for key, window in list(self._windows.items()):
            if now - window.started < self.interval:
                continue
            if window.suppressed:
                self._emit(window.level, window.message, window.suppressed)
                self._windows[key] = _Window(now, 0, window.level, window.message)
            else:
                del self._windows[key]

    def _emit(self, level: int, message: str, count: int) -> None:
        self.lines += 1
        self.logger.log(level, "%s count=%d", message, count)
