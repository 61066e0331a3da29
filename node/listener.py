"""A listening port that takes only the connections it can afford: the P2P and RPC ports use it.

``asyncio.start_server`` accepts whatever arrives and lets each connection hold a descriptor
for as long as its handshake takes (60 s for TLS). A few hundred half-open connections per second
then exhaust the descriptors of the whole process: RPC stops answering, peers cannot connect,
the database cannot open a file. Here every accepted socket is first admitted (``Admission``):
connections that have not finished their handshake are capped per source address and in total
(the oldest is evicted for a newcomer), and none is taken while open descriptors are within a
reserve of the soft limit. A refused
socket is closed at once; refusals and accept errors are logged once per interval per source
with a count (``RateLimitedLog``) and published as ``ConnectionRefused`` for /metrics.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node.events import ConnectionRefused, EventBus
from node.fdlimit import FdGauge
from node.ratelog import RateLimitedLog

ACCEPT_RETRY_DELAY = 0.1  # after a failed accept (out of descriptors): the kernel keeps the backlog
HOUSEKEEPING_INTERVAL = 1.0
BACKLOG = 512

# Refusal reasons of the listener itself (the peer layer adds the handshake's own).
FD_RESERVE = "fd_reserve"
EVICTED = "evicted"  # the oldest pending connection, closed to make room for a new one
TOO_MANY_FROM_SOURCE = "too_many_from_source"
TOO_MANY_CONNECTIONS = "too_many_connections"
ACCEPT_FAILED = "accept_failed"


@dataclass(frozen=True)
class ListenerLimits:
    """``pending``: accepted but not yet through the handshake (TLS and hello on the P2P port, the
    first complete request on the RPC port)."""

    max_pending: int = 64
    max_pending_per_ip: int = 8
    fd_reserve: int = 128
    handshake_timeout: float = 5.0


@dataclass(eq=False)
class Pending:
    """One admitted connection still in its handshake; ``evict`` ends it (set by the listener)."""

    ip: str
    evict: Callable[[], None] = lambda: None
    released: bool = False


class Admission:
    """Which new connection may be taken now: bookkeeping only, no sockets.

    ``headroom`` says how many descriptors are left below the soft limit (None: unknown);
    ``extra`` may refuse for reasons of the owner (the RPC port's total connection cap). When the
    pending connections are at ``max_pending``, the oldest one is evicted to make room: an honest
    client finishes its handshake in milliseconds, so the oldest pending connection is almost
    always an attacker's, and a flood from many addresses cannot lock everyone else out."""

    def __init__(self, limits: ListenerLimits, headroom: Callable[[], int | None],
                 extra: Callable[[], str | None] | None = None) -> None:
        self.limits = limits
        self.headroom = headroom
        self.extra = extra
        self.per_ip: Counter[str] = Counter()
        self.evicted = 0
        self._pending: dict[Pending, None] = {}  # in admission order

    @property
    def pending(self) -> int:
        return len(self._pending)

    def admit(self, ip: str) -> Pending | str:
        """A pending slot for a connection from ``ip``, or why it is refused."""
        room = self.headroom()
        if room is not None and room <= self.limits.fd_reserve:
            return FD_RESERVE
        if self.extra is not None:
            reason = self.extra()
            if reason is not None:
                return reason
        if self.per_ip[ip] >= self.limits.max_pending_per_ip:
            return TOO_MANY_FROM_SOURCE
        while len(self._pending) >= self.limits.max_pending:
            oldest = next(iter(self._pending))
            self.release(oldest)
            self.evicted += 1
            oldest.evict()
        slot = Pending(ip)
        self._pending[slot] = None
        self.per_ip[ip] += 1
        return slot

    def release(self, slot: Pending) -> None:
        """The connection finished its handshake or closed (idempotent)."""
        if slot.released:
            return
        slot.released = True
        del self._pending[slot]
        self.per_ip[slot.ip] -= 1
        if self.per_ip[slot.ip] <= 0:
            del self.per_ip[slot.ip]


# handler(sock, ip, done): serve an admitted socket; call done() once its handshake is over (the
# pending slot is released anyway when the handler returns or fails).
Handler = Callable[[socket.socket, str, Callable[[], None]], Awaitable[None]]


class GuardedListener:
    def __init__(self, name: str, host: str, port: int, *, limits: ListenerLimits, handler: Handler, bus: EventBus,
                 ratelog: RateLimitedLog, fds: FdGauge | None = None, extra: Callable[[], str | None] | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.limits = limits
        self.handler = handler
        self.bus = bus
        self.ratelog = ratelog
        self.fds = fds if fds is not None else FdGauge()
        self.admission = Admission(limits, self.fds.headroom, extra)
        self.refused: Counter[str] = Counter()
        self.accept_errors = 0
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        infos = await asyncio.get_running_loop().getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]  # the first address the host name resolves to (IPv4 or IPv6)
        sock = socket.create_server(address[:2] if family == socket.AF_INET else address, family=family, backlog=BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._loops = [asyncio.create_task(self._accept_loop(), name=f"{self.name}-accept"),
                       asyncio.create_task(self._housekeeping(), name=f"{self.name}-housekeeping")]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        self.ratelog.flush()

    def refuse(self, ip: str, reason: str, level: int = logging.WARNING) -> None:
        """Count and log (rate-limited) a connection refused by the listener or its owner."""
        self.refused[reason] += 1
        self.bus.publish(ConnectionRefused(self.name, reason))
        self.ratelog.log(level, (ip, reason), f"event=connection_refused listener={self.name} addr={ip} reason={reason}")

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(self._sock)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as exc:
                # Out of descriptors or buffers: one line per interval with a count, never a
                # traceback per socket; the connections wait in the kernel's backlog meanwhile.
                self.accept_errors += 1
                name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                self.bus.publish(ConnectionRefused(self.name, ACCEPT_FAILED))
                self.ratelog.log(logging.ERROR, ("accept", name),
                                 f"event=accept_failed listener={self.name} errno={name} error={exc.strerror!r}")
                await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue
            self.fds.opened()
            ip = str(addr[0])
            slot = self.admission.admit(ip)
            if isinstance(slot, str):
                _close(conn)
                self.fds.opened(-1)
                self.refuse(ip, slot)
                continue
            task = asyncio.create_task(self._serve(conn, slot), name=f"{self.name}-conn")
            slot.evict = functools.partial(self._evict, task, ip)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _evict(self, task: asyncio.Task[None], ip: str) -> None:
        task.cancel()  # the handler closes what it has opened
        self.refuse(ip, EVICTED)

    async def _serve(self, conn: socket.socket, slot: Pending) -> None:
        """Run the handler; it owns ``conn`` (and closes it, also when cancelled)."""
        try:
            await self.handler(conn, slot.ip, lambda: self.admission.release(slot))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, but a stranger may trigger it at will: counted, not a traceback each
            self.ratelog.log(logging.ERROR, ("failed", exc.__class__.__name__),
                             f"event=connection_failed listener={self.name} addr={slot.ip} error={exc!r}")
        finally:
            self.admission.release(slot)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            self.ratelog.flush()


def _close(conn: socket.socket) -> None:
    try:
        conn.close()
    except OSError:
        pass
