"""The pieces that bound what strangers cost: the rate-limited log, connection admission, and
the open-file limit and gauge (deterministic: fake clocks and counters, no sockets)."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys

from node.fdlimit import FdGauge, raise_soft_limit
from node.listener import Admission, ListenerLimits
from node.ratelog import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _ratelog(caplog, interval=10.0, max_keys=1024):
    clock = Clock()
    logger = logging.getLogger("test.ratelog")
    caplog.set_level(logging.INFO, logger="test.ratelog")
    return RateLimitedLog(logger, interval=interval, max_keys=max_keys, clock=clock), clock


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.ratelog"]


def test_first_occurrence_at_once_then_one_line_per_interval_with_the_count(caplog):
    rl, clock = _ratelog(caplog)
    for _ in range(300):
        rl.log(logging.WARNING, "1.2.3.4", "event=x addr=1.2.3.4")
        clock.now += 0.01  # 300 per second
    assert _messages(caplog) == ["event=x addr=1.2.3.4 count=1"]
    clock.now += 7.0  # the interval (10 s from the first line) has ended
    rl.log(logging.WARNING, "1.2.3.4", "event=x addr=1.2.3.4")
    assert _messages(caplog)[-1] == "event=x addr=1.2.3.4 count=300"  # 299 suppressed + this one


def test_flush_reports_the_last_burst_and_forgets_quiet_keys(caplog):
    rl, clock = _ratelog(caplog)
    for _ in range(5):
        rl.log(logging.WARNING, "k", "event=x")
    rl.flush()
    assert len(_messages(caplog)) == 1  # the window is still open
    clock.now += 10.0
    rl.flush()
    assert _messages(caplog) == ["event=x count=1", "event=x count=4"]
    clock.now += 10.0
    rl.flush()  # nothing new for a whole interval: the key is forgotten, no empty line
    assert len(_messages(caplog)) == 2 and not rl._windows


def test_sources_are_counted_separately_and_many_sources_share_one_key(caplog):
    rl, clock = _ratelog(caplog, max_keys=3)
    for i in range(100):
        rl.log(logging.WARNING, f"10.0.0.{i}", f"event=x addr=10.0.0.{i}")
    lines = _messages(caplog)
    assert lines[:3] == [f"event=x addr=10.0.0.{i} count=1" for i in range(3)]
    assert lines[3].endswith("overflow=true count=1") and len(lines) == 4  # the other 97 share one line
    assert len(rl._windows) == 4


def _admission(headroom=lambda: 10_000, extra=None, **kw):
    return Admission(ListenerLimits(**{"max_pending": 4, "max_pending_per_ip": 2, "fd_reserve": 100, **kw}), headroom, extra)


def test_admission_caps_pending_per_source_and_evicts_the_oldest_for_a_newcomer():
    adm = _admission()
    evicted: list[str] = []

    def take(ip: str):
        slot = adm.admit(ip)
        if not isinstance(slot, str):
            slot.evict = lambda ip=ip: evicted.append(ip)
        return slot

    a1, a2, a3 = take("a"), take("a"), take("a")
    assert a3 == "too_many_from_source" and adm.pending == 2  # a refusal takes no slot
    b, c = take("b"), take("c")
    assert adm.pending == 4 and evicted == []
    d = take("d")  # full: the oldest (a1) makes room, and d is in
    assert evicted == ["a"] and a1.released and not isinstance(d, str) and adm.pending == 4
    assert adm.per_ip == {"a": 1, "b": 1, "c": 1, "d": 1}
    adm.release(a1)  # its handler ends later and releases again: nothing changes
    assert adm.pending == 4
    for slot in (a2, b, c, d):
        adm.release(slot)
    assert adm.pending == 0 and not adm.per_ip and adm.evicted == 1


def test_admission_keeps_descriptors_in_reserve_and_asks_the_owner():
    room = [101]
    adm = _admission(headroom=lambda: room[0])
    assert not isinstance(adm.admit("a"), str)
    room[0] = 100
    assert adm.admit("a") == "fd_reserve" and adm.pending == 1
    unknown = _admission(headroom=lambda: None)  # no /proc: the caps still hold
    assert not isinstance(unknown.admit("a"), str)
    full = _admission(extra=lambda: "too_many_connections")
    assert full.admit("a") == "too_many_connections"


def test_fd_gauge_rereads_only_when_stale_and_counts_what_it_is_told():
    clock, reads = Clock(), []

    def counter() -> int:
        reads.append(clock.now)
        return 500

    gauge = FdGauge(max_age=0.2, counter=counter, limit=lambda: 1024, clock=clock)
    assert gauge.headroom() == 524
    gauge.opened(3)
    assert gauge.headroom() == 521 and len(reads) == 1
    clock.now += 0.3
    assert gauge.headroom() == 524 and len(reads) == 2
    assert FdGauge(counter=lambda: None).headroom() is None


def test_the_soft_limit_is_raised_as_far_as_the_hard_limit_allows():
    """In a child process: the test runner's own limit is left alone."""
    code = (
        "import resource; from node.fdlimit import raise_soft_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 2048))\n"
        "c = raise_soft_limit(65536); print(c.before, c.soft, c.hard, c.short_of_wanted)\n"
        "c = raise_soft_limit(1000); print(c.before, c.soft)\n"  # never lowered
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "256 2048 2048 True" and out[1] == "2048 2048"


def test_leaving_the_limit_alone():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_soft_limit(0).soft == soft


async def test_accept_errors_are_one_line_per_interval_never_a_traceback(monkeypatch, caplog):
    """Out of descriptors, accept() fails for every waiting connection: the listener says so once
    (then once per interval with a count), backs off, and keeps going."""
    import asyncio
    import errno

    from node import listener as listener_module
    from node.events import ConnectionRefused, EventBus
    from node.listener import GuardedListener

    monkeypatch.setattr(listener_module, "ACCEPT_RETRY_DELAY", 0.001)
    loop = asyncio.get_running_loop()
    failures = [0]
    gate = asyncio.Event()

    async def failing_accept(sock):
        if failures[0] < 200:
            failures[0] += 1
            raise OSError(errno.EMFILE, "Too many open files")
        await gate.wait()
        raise ConnectionAbortedError

    monkeypatch.setattr(loop, "sock_accept", failing_accept)
    bus = EventBus()
    events: list[ConnectionRefused] = []
    bus.subscribe(ConnectionRefused, events.append)
    logger = logging.getLogger("test.accept")
    caplog.set_level(logging.INFO, logger="test.accept")

    async def never(*args) -> None:
        raise AssertionError("nothing was accepted")

    guarded = GuardedListener("p2p", "127.0.0.1", 0, limits=ListenerLimits(), handler=never, bus=bus,
                              ratelog=RateLimitedLog(logger, interval=60.0))
    await guarded.start()
    try:
        for _ in range(500):
            if failures[0] >= 200:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        await guarded.stop()
    records = [r for r in caplog.records if r.name == "test.accept"]
    assert guarded.accept_errors == 200 and len(events) == 200 and {e.reason for e in events} == {"accept_failed"}
    # 200 failures within one interval: one line (the rest are counted for the next line).
    assert [r.getMessage() for r in records] == ["event=accept_failed listener=p2p errno=EMFILE error='Too many open files' count=1"]
    assert records[0].levelno == logging.ERROR
    assert all(r.exc_info is None for r in records)
