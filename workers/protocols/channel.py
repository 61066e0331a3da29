"""Message channel for the protocols: a tiny ``Transport`` below, a checking ``Session`` above.

Protocols are plain blocking code, one thread per party (the heavy work is libsodium, gmpy2 and
numpy, which release the GIL or are vectorised). A worker running on asyncio hands a protocol a
transport whose ``recv`` waits on its event loop from the protocol's thread.

``Transport`` is all the worker's authenticated network channel has to provide: frames to a named
peer, and frames from a named peer in the order that peer sent them, where the name is the one the
channel authenticated (not one the frame claims). ``Session`` adds the codec and refuses any frame
that is not exactly the next one expected from that peer in this task: wrong task id, wrong round,
wrong kind, a repeated or skipped ``seq``, or a ``from``/``to`` that disagrees with the channel.
A peer that sends nothing for ``timeout`` seconds raises ``PeerTimeout`` naming it and the step.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from workers.protocols.errors import MalformedMessage, PeerTimeout, UnexpectedMessage
from workers.protocols.messages import Envelope, decode

DEFAULT_TIMEOUT = 60.0


class Transport(Protocol):
    """Authenticated, per-peer ordered frame delivery for one party."""

    party: str

    def send(self, to: str, frame: bytes) -> None: ...

    def recv(self, sender: str, timeout: float) -> bytes:
        """The next frame from ``sender``; raise ``PeerTimeout`` if none arrives within ``timeout`` s."""
        ...


@dataclass
class MemoryHub:
    """In-process network for tests and benchmarks: one FIFO per (receiver, sender) pair."""

    queues: dict[tuple[str, str], queue.Queue[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)  # (from, to, frame): what an eavesdropper saw
    record: bool = False

    def queue_for(self, receiver: str, sender: str) -> queue.Queue[bytes]:
        with self.lock:
            return self.queues.setdefault((receiver, sender), queue.Queue())

    def transport(self, party: str) -> MemoryTransport:
        return MemoryTransport(self, party)

    def inject(self, receiver: str, sender: str, frame: bytes) -> None:
        """Deliver a frame as if ``sender`` sent it (tests of replays and tampering)."""
        self.queue_for(receiver, sender).put(frame)


@dataclass
class MemoryTransport:
    hub: MemoryHub
    party: str

    def send(self, to: str, frame: bytes) -> None:
        if self.hub.record:
            with self.hub.lock:
                self.hub.sent.append((self.party, to, frame))
        self.hub.queue_for(to, self.party).put(frame)

    def recv(self, sender: str, timeout: float) -> bytes:
        try:
            return self.hub.queue_for(self.party, sender).get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise PeerTimeout(f"{sender!r} sent nothing to {self.party!r} for {timeout:.1f} s") from None


class Session:
    """One party's view of one task: encodes, sends, receives and checks every frame."""

    def __init__(self, transport: Transport, task: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not task:
            raise ValueError("a session needs a non-empty task id")
        self.transport = transport
        self.task = task
        self.party = transport.party
        self.timeout = timeout
        self._sent: dict[str, int] = {}
        self._received: dict[str, int] = {}

    def send(self, to: str, kind: str, round: int, body: dict[str, Any]) -> None:
        seq = self._sent.get(to, 0)
        self._sent[to] = seq + 1
        self.transport.send(to, Envelope(self.task, round, seq, self.party, to, kind, body).encode())

    def recv(self, sender: str, kind: str, round: int, timeout: float | None = None) -> dict[str, Any]:
        """The body of the next frame from ``sender``, which must be ``kind`` in ``round`` of this task."""
        wait = self.timeout if timeout is None else timeout
        try:
            frame = self.transport.recv(sender, wait)
        except PeerTimeout:
            raise PeerTimeout(
                f"task {self.task!r}: {sender!r} stopped answering: no {kind!r} (round {round}) "
                f"reached {self.party!r} within {wait:.1f} s"
            ) from None
        try:
            env = decode(frame)
        except MalformedMessage as exc:
            raise MalformedMessage(f"task {self.task!r}: frame from {sender!r} awaited as {kind!r} round {round}: {exc}") from None
        expected_seq = self._received.get(sender, 0)
        where = f"task {self.task!r}, {self.party!r} expecting {kind!r} round {round} seq {expected_seq} from {sender!r}"
        if env.task != self.task:
            raise UnexpectedMessage(f"{where}: frame belongs to task {env.task!r} (replayed or misrouted)")
        if env.sender != sender or env.to != self.party:
            raise UnexpectedMessage(f"{where}: frame claims {env.sender!r} -> {env.to!r}")
        if env.seq != expected_seq:
            raise UnexpectedMessage(f"{where}: frame has seq {env.seq} (replayed, reordered or lost)")
        if env.round != round or env.kind != kind:
            raise UnexpectedMessage(f"{where}: got {env.kind!r} round {env.round} (out of round order)")
        self._received[sender] = expected_seq + 1
        return env.body

    def deadline_recv(self, sender: str, kind: str, round: int, deadline: float) -> dict[str, Any]:
        """``recv`` that shares one absolute ``time.monotonic()`` deadline across several peers."""
        return self.recv(sender, kind, round, timeout=max(0.0, deadline - time.monotonic()))


def run_parties(parties: dict[str, Callable[[], Any]], return_exceptions: bool = False) -> dict[str, Any]:
    """Run each party's function in its own thread and wait for all (each ends by result, error or timeout).

    Returns the results by party; with ``return_exceptions`` a failed party's entry is its exception,
    otherwise the first failure (in party order) is raised.
    """
    results: dict[str, Any] = {}

    def runner(name: str, fn: Callable[[], Any]) -> None:
        try:
            results[name] = fn()
        except BaseException as exc:  # reported to the caller, never swallowed
            results[name] = exc

    threads = [threading.Thread(target=runner, args=(n, f), name=f"party-{n}", daemon=True) for n, f in parties.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if not return_exceptions:
        for name in parties:
            if isinstance(results[name], BaseException):
                raise results[name]
    return results
