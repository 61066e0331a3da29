"""Paillier against the textbook scheme and its homomorphic properties (small keys: no property depends on size)."""

from __future__ import annotations

import math
import random

import gmpy2
import pytest

from workers.protocols import paillier
from workers.protocols.errors import InvalidInput, MalformedMessage


@pytest.fixture(scope="module")
def key():
    return paillier.generate(512)


def _textbook_decrypt(sk, c):
    """Paillier 1999 with g = n + 1: m = L(c^lambda mod n^2) * mu mod n, in plain Python integers."""
    n, p, q = int(sk.public.n), int(sk.p), int(sk.q)
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    mu = pow((pow(n + 1, lam, n * n) - 1) // n, -1, n)
    return (pow(int(c), lam, n * n) - 1) // n * mu % n


def test_key_shape(key):
    n = int(key.public.n)
    assert n == int(key.p) * int(key.q) and n.bit_length() == 512 and key.p != key.q
    assert gmpy2.is_prime(key.p) and gmpy2.is_prime(key.q)


@pytest.mark.parametrize("textbook", [True, False])
def test_encryption_matches_the_textbook_scheme(key, textbook):
    pk = key.public
    pool = paillier.NoisePool(pk, textbook=textbook)
    pool.fill(5)
    rng = random.Random(1)
    for _ in range(5):
        m = rng.randrange(int(pk.n))
        c = pool.encrypt(m)
        assert key.decrypt(c) == m == _textbook_decrypt(key, c)
    r = 12345
    c = pk.encrypt_with(42, gmpy2.powmod(r, pk.n, pk.n2))
    assert c == pow(int(pk.n) + 1, 42, int(pk.n2)) * pow(r, int(pk.n), int(pk.n2)) % int(pk.n2)
    assert gmpy2.powmod(pk.n + 1, 42, pk.n2) == 1 + 42 * pk.n  # g = n + 1 makes g^m = 1 + m n


def test_djn_noise_is_an_nth_residue(key):
    pk = key.public
    pool = paillier.NoisePool(pk)
    rn = pool.fresh()
    assert key.decrypt(rn) == 0  # an encryption of zero
    assert pool.fresh() != rn
    direct = paillier.NoisePool(pk, table=False).fresh()
    assert key.decrypt(direct) == 0


def test_homomorphic_properties(key):
    pk = key.public
    pool = paillier.NoisePool(pk)
    a, b, k = 123456789, -987654, 77
    ca, cb = pool.encrypt(pk.encode_signed(a)), pool.encrypt(pk.encode_signed(b))
    assert pk.decode_signed(key.decrypt(pk.add(ca, cb))) == a + b
    assert pk.decode_signed(key.decrypt(pk.mul_const(cb, k))) == k * b
    assert pk.decode_signed(key.decrypt(pk.mul_const(ca, -3))) == -3 * a
    assert pool.encrypt(5) != pool.encrypt(5)  # probabilistic


def test_multi_exp_equals_the_naive_product(key):
    pk = key.public
    pool = paillier.NoisePool(pk)
    rng = random.Random(2)
    ms = [rng.randrange(-1000, 1000) for _ in range(40)]
    es = [rng.randrange(0, 2**20) for _ in range(40)]
    cs = [pool.encrypt(pk.encode_signed(m)) for m in ms]
    naive = 1
    for c, e in zip(cs, es):
        naive = naive * pow(int(c), e, int(pk.n2)) % int(pk.n2)
    got = paillier.multi_exp(pk, cs, es)
    assert int(got) == naive
    assert pk.decode_signed(key.decrypt(got)) == sum(m * e for m, e in zip(ms, es))
    assert paillier.multi_exp(pk, [], []) == 1


def test_bad_keys_and_ciphertexts_are_refused(key):
    pk = key.public
    with pytest.raises(MalformedMessage):
        pk.check_ciphertext(0)
    with pytest.raises(MalformedMessage):
        pk.check_ciphertext(int(pk.n2))
    with pytest.raises(MalformedMessage):
        pk.check_ciphertext(int(key.p))  # shares a factor with n
    n, hs = pk.to_bytes()
    assert paillier.PublicKey.from_bytes(n, hs, 512) == pk
    with pytest.raises(MalformedMessage):
        paillier.PublicKey.from_bytes(n, hs, 1024)  # too small for the caller's policy
    with pytest.raises(MalformedMessage):
        paillier.PublicKey.from_bytes(int(gmpy2.next_prime(2**600)).to_bytes(76, "big"), hs, 512)
    with pytest.raises(InvalidInput):
        pk.encode_signed(int(pk.n))
    with pytest.raises(InvalidInput):
        paillier.generate(100)
