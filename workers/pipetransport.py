"""A two-party transport over one ``multiprocessing`` pipe, for running each party in its own process.

Why: two parties in one Python process share one interpreter lock, so their Python work (hashing
to the curve, encoding, matching) runs one at a time, which deployed parties on two hosts never
do. Sends never block the protocol (a writer thread drains an unbounded queue into the pipe) and
a reader thread keeps the pipe empty, so neither side can stall the other by sending ahead
(the PSI schedule sends up to ``2 * lag`` batches before reading; docs/privacy-protocols.md).
"""

from __future__ import annotations

import queue
import threading
from multiprocessing.connection import Connection

from workers.protocols.errors import PeerTimeout

_CLOSE = b""


class PipeTransport:
    def __init__(self, conn: Connection, party: str, peer: str) -> None:
        self.party = party
        self.peer = peer
        self._conn = conn
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._inbox: queue.Queue[bytes] = queue.Queue()
        self._writer = threading.Thread(target=self._write, name=f"{party}-pipe-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"{party}-pipe-reader", daemon=True)
        self._writer.start()
        self._reader.start()

    def send(self, to: str, frame: bytes) -> None:
        if to != self.peer:
            raise ValueError(f"this pipe reaches only {self.peer!r}, not {to!r}")
        self._outbox.put(frame)

    def recv(self, sender: str, timeout: float) -> bytes:
        if sender != self.peer:
            raise PeerTimeout(f"{sender!r} is not on this pipe")
        try:
            return self._inbox.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise PeerTimeout(f"{sender!r} sent nothing to {self.party!r} for {timeout:.1f} s") from None

    def close(self) -> None:
        """Send what is queued, then stop the writer (the reader ends when the peer closes)."""
        self._outbox.put(None)
        self._writer.join()

    def _write(self) -> None:
        while (frame := self._outbox.get()) is not None:
            self._conn.send_bytes(frame)

    def _read(self) -> None:
        try:
            while True:
                self._inbox.put(self._conn.recv_bytes())
        except (EOFError, OSError):
            return
