"""Opening the node's LevelDB database with one clear error line for every way it can fail."""

from __future__ import annotations

import os
from pathlib import Path

import plyvel

from node.errors import StoreError


def open_database(path: str | os.PathLike[str], *, create: bool) -> plyvel.DB:
    """Open (or create) the LevelDB database at ``path``.

    Missing, locked (another process has it) and corrupted databases each raise ``StoreError`` with
    a message an operator can act on, never a plyvel traceback.
    """
    p = Path(path)
    if not create and not (p / "CURRENT").exists():
        raise StoreError(f"no database at {p} (initialise the node home with 'consortia net init')")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return plyvel.DB(str(p), create_if_missing=create, paranoid_checks=True)
    except plyvel.CorruptionError as exc:
        raise StoreError(f"database at {p} is corrupted: {_first_line(exc)}") from None
    except plyvel.IOError as exc:
        text = _first_line(exc)
        if "lock" in text.lower():
            raise StoreError(f"database at {p} is locked by another process (is this node already running?)") from None
        raise StoreError(f"cannot open database at {p}: {text}") from None
    except plyvel.Error as exc:
        raise StoreError(f"cannot open database at {p}: {_first_line(exc)}") from None
    except OSError as exc:
        raise StoreError(f"cannot open database at {p}: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]
