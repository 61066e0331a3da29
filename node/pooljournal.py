"""The pool journal: client transactions this node acknowledged, kept on disk until they leave the pool.

Why: ``tx_send`` answers once a transaction is in this node's pool, and forwarding it to the other
validators takes a few milliseconds more. A node killed in between (``kill -9``, a crash, the OOM
killer) lost those transactions with its memory, although their clients held an acknowledgement.
Each admitted client transaction is appended to ``<home>/txpool.journal`` with one ``write``
before the answer goes out; the kernel keeps it even if the process dies the next instant. At
start the node reads the journal back, admits again whatever is still valid (committed, expired
and replayed ones are refused by the ordinary admission rules) and forwards it. The journal is not
synced to the device: it survives the process, not a power cut of the host (docs/reliability.md).

Format: a sequence of records, each a 4-byte big-endian length followed by that many bytes of a
transaction's canonical encoding. A torn last record (the process died inside a ``write``) is
ignored. The journal is rewritten (to a temporary file, then renamed over) with only the pool's
pending local transactions once it holds many more records than those.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

JOURNAL_FILE = "txpool.journal"
_LENGTH = struct.Struct(">I")
MAX_RECORD_BYTES = 64 * 1024 * 1024  # far above any max_tx_bytes: a larger length means a damaged file
COMPACT_MIN_RECORDS = 4_096  # never rewrite a journal smaller than this


@dataclass(frozen=True)
class JournalContents:
    """What a journal file held: its whole records, and how many bytes at the end were not one."""

    records: list[bytes]
    torn_bytes: int


def read_journal(path: Path) -> JournalContents:
    """Every whole record of the journal at ``path`` (none if it does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalContents([], 0)
    records: list[bytes] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        end = offset + _LENGTH.size + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        records.append(data[offset + _LENGTH.size:end])
        offset = end
    return JournalContents(records, len(data) - offset)


class PoolJournal:
    """An append-only file of acknowledged client transactions (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0  # records in the file now
        self._fd: int | None = None
        self._failed = False

    def open(self) -> JournalContents:
        """Read what a previous run left, then hold the file open for appending."""
        contents = read_journal(self.path)
        self.records = len(contents.records)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if contents.torn_bytes:
            os.ftruncate(self._fd, self.path.stat().st_size - contents.torn_bytes)
        return contents

    def append(self, raw: bytes) -> None:
        """Record one acknowledged transaction. A failed write (disk full) is logged once; the
        transaction stays admitted, it is only no longer protected against a crash of this node."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, _LENGTH.pack(len(raw)) + raw)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.error("event=pool_journal_failed path=%s error=%r note=\"acknowledged transactions are not "
                          "protected against a crash of this node until the journal can be written again\"",
                          self.path, str(exc))
            return
        if self._failed:
            self._failed = False
            log.info("event=pool_journal_recovered path=%s", self.path)
        self.records += 1

    def should_compact(self, live: int) -> bool:
        """True when the file holds many more records than the ``live`` ones it must keep."""
        return self.records > max(COMPACT_MIN_RECORDS, 2 * live)

    def rewrite(self, live: Iterable[bytes]) -> None:
        """Replace the journal by one holding exactly ``live`` (written aside, then renamed over)."""
        if self._fd is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        count = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                chunk: list[bytes] = []
                for raw in live:
                    chunk.append(_LENGTH.pack(len(raw)))
                    chunk.append(raw)
                    count += 1
                data = b"".join(chunk)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("event=pool_journal_compact_failed path=%s error=%r", self.path, str(exc))
            return
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.records = count

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
