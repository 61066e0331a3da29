"""Crypto suites, chosen once per chain in genesis: ``sm`` (SM2/SM3/SM4) or ``std`` (Ed25519/SHA-256/AES)."""

from __future__ import annotations

from node.crypto.base import ADDRESS_SIZE, HASH_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

SUITES = ("sm", "std")
_instances: dict[str, CryptoSuite] = {}


def get_suite(name: str) -> CryptoSuite:
    """The shared suite instance for ``name``; CryptoError for an unknown name."""
    suite = _instances.get(name)
    if suite is not None:
        return suite
    if name == "sm":
        from node.crypto.sm import SMSuite

        suite = SMSuite()
    elif name == "std":
        from node.crypto.std import StdSuite

        suite = StdSuite()
    else:
        raise CryptoError(f"unknown crypto suite '{name}' (known: {', '.join(SUITES)})")
    _instances[name] = suite
    return suite


__all__ = ["ADDRESS_SIZE", "HASH_SIZE", "SUITES", "CryptoError", "CryptoSuite", "KeyPair", "get_suite"]
