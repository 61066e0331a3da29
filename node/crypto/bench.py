"""Crypto rates per suite: hashes/s on 256-byte inputs, signs/s and verifies/s on 300-byte messages."""

from __future__ import annotations

import os
import time
from typing import Callable

from node.crypto import SUITES, get_suite


def _rate(fn: Callable[[], object], seconds: float) -> float:
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


def run(seconds: float = 1.0) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in SUITES:
        suite = get_suite(name)
        key = suite.generate_keypair()
        data = os.urandom(256)
        msg = os.urandom(300)
        sig = suite.sign(key.private_bytes, msg)
        out[name] = {
            "hash_per_s": round(_rate(lambda: suite.hash(data), seconds)),
            "sign_per_s": round(_rate(lambda: suite.sign(key.private_bytes, msg), seconds)),
            "verify_per_s": round(_rate(lambda: suite.verify(key.public_bytes, msg, sig), seconds)),
        }
    return out
