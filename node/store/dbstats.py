"""LevelDB's own account of its levels and compactions, parsed from ``leveldb.stats``.

A node that falls behind as its database grows is usually waiting on compaction: LevelDB
merges tables level by level in one background thread, and with random keys (tree-node hashes,
transaction hashes) every level's merge rewrites its bytes about ten times over. These figures
let an operator see that debt (files waiting in level 0, seconds spent compacting) before the
node stalls, and let the benchmarks record it.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class LevelStats:
    """One level: its tables now, and everything compaction has done into it since the open.

    LevelDB reports sizes and traffic in whole MiB (rounded down), so the byte figures have
    that resolution."""

    level: int
    files: int
    size_bytes: int
    compaction_seconds: int
    compaction_read_bytes: int
    compaction_written_bytes: int


def parse_level_stats(text: str) -> list[LevelStats]:
    """The rows of LevelDB's ``leveldb.stats`` table (only levels that have held a table are
    listed). Lines that are not a row of six integers are skipped, so a changed header or a
    build that prints more columns yields fewer rows, never wrong ones."""
    rows: list[LevelStats] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or not all(f.isdigit() for f in fields):
            continue
        level, files, size, seconds, read, written = (int(f) for f in fields)
        rows.append(LevelStats(level, files, size * MIB, seconds, read * MIB, written * MIB))
    return rows
