"""Our Paillier (gmpy2, g = n + 1, CRT decryption, DJN noise) against ``phe`` as a test-only oracle.

``phe`` is GPL-3 and unmaintained, so the product does not use it; here it only checks that our
ciphertexts are textbook Paillier ciphertexts that an independent implementation decrypts, and
the other way round, under one key.
"""

from __future__ import annotations

import secrets

import pytest

from workers.protocols import paillier

phe = pytest.importorskip("phe", reason="phe (test extra) checks our Paillier against an independent implementation")


@pytest.fixture(scope="module")
def keys():
    ours = paillier.generate(1024)
    theirs_public = phe.PaillierPublicKey(int(ours.public.n))
    theirs = phe.PaillierPrivateKey(theirs_public, int(ours.p), int(ours.q))
    return ours, theirs_public, theirs


def test_each_decrypts_the_others_ciphertexts(keys):
    ours, theirs_public, theirs = keys
    pool = paillier.NoisePool(ours.public)
    pool.fill(20)
    for m in [0, 1, 2**64 + 7, int(ours.public.n) - 1, *(secrets.randbelow(int(ours.public.n)) for _ in range(15))]:
        c = pool.encrypt(m)
        assert theirs.raw_decrypt(int(c)) == m
        assert ours.decrypt(theirs_public.raw_encrypt(m)) == m


def test_homomorphic_operations_agree(keys):
    ours, theirs_public, theirs = keys
    pool = paillier.NoisePool(ours.public)
    pool.fill(4)
    a, b, k = 123_456_789, 987_654_321, 31
    s = ours.public.add(pool.encrypt(a), pool.encrypt(b))
    assert theirs.raw_decrypt(int(s)) == a + b
    assert theirs.raw_decrypt(int(ours.public.mul_const(pool.encrypt(a), k))) == a * k
    # signed values as the vertical LR encodes them
    v = -42
    c = pool.encrypt(ours.public.encode_signed(v))
    assert ours.public.decode_signed(theirs.raw_decrypt(int(c))) == v
