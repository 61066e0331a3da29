"""Batched signature verification in worker processes gives the same answers as inline."""

import asyncio

import pytest

from node.crypto import get_suite
from node.sigverify import BatchVerifier


@pytest.mark.parametrize("workers", [0, 1])
async def test_batch_verifier_matches_inline(workers):
    suite = get_suite("sm")
    verifier = BatchVerifier("sm", workers=workers, max_batch=8)
    verifier.start()
    try:
        key = suite.generate_keypair()
        msgs = [bytes([i]) * (i + 1) for i in range(40)]
        sigs = [suite.sign(key.private_bytes, m) for m in msgs]
        sigs[3] = bytes(64)
        sigs[17] = sigs[18]
        results = await asyncio.gather(*(verifier.verify(key.public_bytes, m, s) for m, s in zip(msgs, sigs)))
        expected = [suite.verify(key.public_bytes, m, s) for m, s in zip(msgs, sigs)]
        assert results == expected
        assert results.count(False) == 2
    finally:
        verifier.close()
