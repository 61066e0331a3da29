"""Opening the node's LevelDB database with one clear error line for every way it can fail.

A database is created only where nothing exists yet. LevelDB asked to create a database in a
directory whose ``CURRENT`` file is gone starts an empty one there and deletes the old tables,
so a damaged data directory is refused instead, with what to do about it.
"""

from __future__ import annotations

import os
from pathlib import Path

import plyvel

from node.errors import StoreError

RESYNC_HINT = (
    "to recover, stop the node, move the data directory aside and start it again: it rebuilds from "
    "genesis by catching up from its peers (or restore a backup of the data directory)"
)


# LevelDB tuning (measured under load with py-spy, 2026-12-02): state-tree nodes and the
# lookups of transaction hashes and nonces that are not there dominated the store's reads.
# A 64 MiB block cache keeps the hot tables' blocks decompressed (LevelDB's default is 8 MiB);
# a bloom filter of 10 bits per key answers most lookups of absent keys without reading a block;
# a 16 MiB write buffer (default 4 MiB) means fewer, larger compactions.
BLOCK_CACHE_BYTES = 64 * 1024 * 1024
BLOOM_FILTER_BITS = 10
WRITE_BUFFER_BYTES = 16 * 1024 * 1024


def open_database(path: str | os.PathLike[str], *, create: bool) -> plyvel.DB:
    """Open the LevelDB database at ``path``; with ``create``, make one if ``path`` does not exist.

    Missing, locked (another process has it), damaged and corrupted databases each raise
    ``StoreError`` with a message an operator can act on, never a plyvel traceback. Reads and
    writes are checked (``paranoid_checks``): corruption found later is an error, never data.
    """
    p = Path(path)
    existing = p.exists() and any(p.iterdir()) if p.is_dir() else p.exists()
    if existing and not (p / "CURRENT").exists():
        raise StoreError(f"database at {p} is damaged: its CURRENT file is missing; {RESYNC_HINT}")
    if not existing and not create:
        raise StoreError(f"no database at {p} (initialise the node home with 'consortia net init')")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return plyvel.DB(str(p), create_if_missing=not existing, paranoid_checks=True, lru_cache_size=BLOCK_CACHE_BYTES,
                         bloom_filter_bits=BLOOM_FILTER_BITS, write_buffer_size=WRITE_BUFFER_BYTES)
    except plyvel.CorruptionError as exc:
        raise StoreError(f"database at {p} is corrupted: {first_line(exc)}; {RESYNC_HINT}") from None
    except plyvel.IOError as exc:
        text = first_line(exc)
        if "lock" in text.lower():
            raise StoreError(f"database at {p} is locked by another process (is this node already running?)") from None
        raise StoreError(f"cannot open database at {p}: {text}") from None
    except plyvel.Error as exc:
        raise StoreError(f"cannot open database at {p}: {first_line(exc)}") from None
    except OSError as exc:
        raise StoreError(f"cannot open database at {p}: {exc.strerror or exc}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]
