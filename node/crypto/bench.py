"""Crypto rates per suite: hashes/s on 256-byte inputs, signs/s and verifies/s on 300-byte messages.

Lives in the package (not only in ``benchmarks/``) so ``consortia bench`` can import it from an
installed node. Verify is measured with a warm public-key cache, as on the hot path where the same
accounts and validators sign again and again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from functools import partial

from node.crypto import SUITES, get_suite

HASH_INPUT_SIZE = 256
MESSAGE_SIZE = 300


def call_rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (timer read once per 50 calls)."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def run(seconds: float = 1.0, suites: Iterable[str] = SUITES) -> dict[str, dict[str, float]]:
    """``{suite: {"hash_per_s", "sign_per_s", "verify_per_s"}}``, each measured for ``seconds``."""
    out: dict[str, dict[str, float]] = {}
    for name in suites:
        suite = get_suite(name)
        key = suite.generate_keypair()
        data = os.urandom(HASH_INPUT_SIZE)
        msg = os.urandom(MESSAGE_SIZE)
        sig = suite.sign(key.private_bytes, msg)
        if not suite.verify(key.public_bytes, msg, sig):
            raise RuntimeError(f"suite {name}: a fresh signature does not verify")
        out[name] = {
            "hash_per_s": round(call_rate(partial(suite.hash, data), seconds)),
            "sign_per_s": round(call_rate(partial(suite.sign, key.private_bytes, msg), seconds)),
            "verify_per_s": round(call_rate(partial(suite.verify, key.public_bytes, msg, sig), seconds)),
        }
    return out
