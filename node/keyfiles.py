"""Private key files: written owner-only every time, refused when others may read them.

``os.open(..., 0o600)`` sets the mode only when it creates a file: rewriting an existing key file
(``net init --force``) kept whatever mode it had. Every writer of secret material goes through
``write_private`` so the mode is set explicitly, and a node checks its keys with
``check_private`` before it uses them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from node.errors import ConfigError

PRIVATE_MODE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, whether or not the file existed (and whatever
    the umask); the mode is fixed before any secret byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd >= 0:
            os.close(fd)


def private_problem(path: Path) -> str | None:
    """Why ``path`` is not a private key file (one line naming the file and the fix), or None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None  # a missing file is reported by whoever reads it, with its own message
    if mode & 0o077:
        return (f"key file {path} is accessible by group or others (mode {mode:04o}); "
                f"run 'chmod 600 {path}' (and check who may have read it)")
    return None


def check_private(*paths: Path) -> None:
    """ConfigError for the first key file that group or others may read or write."""
    for path in paths:
        problem = private_problem(path)
        if problem is not None:
            raise ConfigError(problem)
