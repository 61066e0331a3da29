"""Suite-dependent hashing of items before they meet a curve: SHA-512 for ``std``, SM3 for ``sm``.

The curve stays Curve25519 in both suites (SM2 point multiplication from Python is two orders of
magnitude slower); in the ``sm`` suite every item is first hashed with SM3, so the identifiers that
enter the group are SM3 digests, as a national-standard deployment requires.
"""

from __future__ import annotations

import hashlib

SUITES = ("std", "sm")


def item_bytes(item: bytes | str) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    raise TypeError(f"items must be bytes or str, got {type(item).__name__}")


def prehash(suite: str, item: bytes) -> bytes:
    """The bytes hashed to the group: the item itself for ``std``, SM3(item) for ``sm``."""
    if suite == "std":
        return item
    if suite == "sm":
        return hashlib.new("sm3", item).digest()
    raise ValueError(f"unknown suite {suite!r} (choose from {SUITES})")
