"""Shared helpers for protocol tests: run parties over one in-memory hub, crash a party on cue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.protocols.channel import MemoryHub, MemoryTransport, Session, run_parties


class Crashed(Exception):
    """Raised inside a party whose transport was told to die (the party stops answering)."""


class DyingTransport:
    """Delivers ``sends`` frames, then the party crashes on its next send."""

    def __init__(self, inner: MemoryTransport, sends: int) -> None:
        self.inner, self.left, self.party = inner, sends, inner.party

    def send(self, to: str, frame: bytes) -> None:
        if self.left <= 0:
            raise Crashed(self.party)
        self.left -= 1
        self.inner.send(to, frame)

    def recv(self, sender: str, timeout: float) -> bytes:
        return self.inner.recv(sender, timeout)


def run(roles: dict[str, Callable[[Session], Any]], task: str = "task-1", timeout: float = 10.0,
        hub: MemoryHub | None = None, dying: dict[str, int] | None = None, return_exceptions: bool = False) -> dict[str, Any]:
    hub = hub or MemoryHub()
    parties = {}
    for name, fn in roles.items():
        transport: Any = hub.transport(name)
        if dying and name in dying:
            transport = DyingTransport(transport, dying[name])
        session = Session(transport, task, timeout)
        parties[name] = (lambda fn=fn, session=session: fn(session))
    return run_parties(parties, return_exceptions=return_exceptions)
