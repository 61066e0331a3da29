"""Crypto suites, chosen once per chain in genesis: ``sm`` (SM2/SM3/SM4) or ``std`` (Ed25519/SHA-256/AES).

Suites are stateless apart from their key caches, so every component shares one instance per name;
each suite module is imported only when first asked for, so a ``std`` chain never loads Tongsuo.
"""

from __future__ import annotations

import threading

from node.crypto.base import ADDRESS_SIZE, HASH_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

SUITES = ("sm", "std")
_instances: dict[str, CryptoSuite] = {}
_lock = threading.Lock()


def _build(name: str) -> CryptoSuite:
    if name == "sm":
        from node.crypto.sm import SMSuite

        return SMSuite()
    if name == "std":
        from node.crypto.std import StdSuite

        return StdSuite()
    raise CryptoError(f"unknown crypto suite {name!r} (known: {', '.join(SUITES)})")


def get_suite(name: str) -> CryptoSuite:
    """The shared suite instance for ``name``; CryptoError for an unknown name."""
    if name in SUITES:  # ``in`` on a tuple compares, so any (even unhashable) name is safe here
        suite = _instances.get(name)  # lock-free fast path: called for every transaction
        if suite is not None:
            return suite
    else:
        raise CryptoError(f"unknown crypto suite {name!r} (known: {', '.join(SUITES)})")
    with _lock:
        suite = _instances.get(name)
        if suite is None:
            suite = _instances[name] = _build(name)
    return suite


__all__ = ["ADDRESS_SIZE", "HASH_SIZE", "SUITES", "CryptoError", "CryptoSuite", "KeyPair", "get_suite"]
