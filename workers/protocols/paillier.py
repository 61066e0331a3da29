"""Paillier on gmpy2: g = n + 1, CRT decryption, and an offline pool of noise values.

Encryption is ``c = (1 + m n) * rn mod n^2`` where ``rn`` is an n-th residue. Textbook Paillier takes
``rn = r^n`` for a fresh random r (one 2048-bit exponentiation mod n^2, about 14 ms here). The pool
instead uses the Damgard-Jurik-Nielsen form ``rn = hs^a`` with ``hs = (-x^2)^n mod n^2`` published
with the key and ``a`` a fresh random exponent of k/2 bits, evaluated with a fixed-base window table;
``textbook=True`` gives fresh ``r^n`` values. Either way the pool is filled before the online phase,
where an encryption is then one multiplication mod n^2.

Plaintexts are integers mod n; ``encode_signed``/``decode_signed`` map (-n/2, n/2) onto them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import gmpy2
from gmpy2 import mpz

from workers.protocols.errors import InvalidInput, MalformedMessage

WINDOW = 8


def _random_prime(bits: int) -> mpz:
    while True:
        candidate = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 1  # top two bits set: n gets full size
        p = gmpy2.next_prime(candidate)
        if p.bit_length() == bits:
            return p


@dataclass(frozen=True)
class PublicKey:
    n: mpz
    hs: mpz  # (-x^2)^n mod n^2: the DJN base for noise

    @property
    def n2(self) -> mpz:
        return self.n * self.n

    @property
    def bits(self) -> int:
        return int(self.n.bit_length())

    def encrypt_with(self, m: int, rn: mpz) -> mpz:
        return (1 + (mpz(m) % self.n) * self.n) * rn % self.n2

    def add(self, a: mpz, b: mpz) -> mpz:
        return a * b % self.n2

    def mul_const(self, c: mpz, k: int) -> mpz:
        k = k % int(self.n)
        return gmpy2.powmod(c, k, self.n2)

    def encode_signed(self, v: int) -> int:
        if not -(int(self.n) // 2) < v < int(self.n) // 2:
            raise InvalidInput("value outside the signed plaintext range of this key")
        return v % int(self.n)

    def decode_signed(self, m: int) -> int:
        return m - int(self.n) if m > int(self.n) // 2 else m

    def check_ciphertext(self, c: int) -> mpz:
        """A received ciphertext must be in (0, n^2) and invertible mod n^2."""
        c = mpz(c)
        if not 0 < c < self.n2 or gmpy2.gcd(c, self.n) != 1:
            raise MalformedMessage("not a valid Paillier ciphertext for this key")
        return c

    def to_bytes(self) -> tuple[bytes, bytes]:
        size = (self.bits + 7) // 8
        return int(self.n).to_bytes(size, "big"), int(self.hs).to_bytes(2 * size, "big")

    @classmethod
    def from_bytes(cls, n: bytes, hs: bytes, min_bits: int = 1024) -> PublicKey:
        nn, h = mpz(int.from_bytes(n, "big")), mpz(int.from_bytes(hs, "big"))
        if nn.bit_length() < min_bits or nn % 2 == 0 or gmpy2.is_prime(nn):
            raise MalformedMessage(f"Paillier modulus must be an odd composite of at least {min_bits} bits")
        if not 0 < h < nn * nn or gmpy2.gcd(h, nn) != 1:
            raise MalformedMessage("Paillier noise base is not a unit mod n^2")
        return cls(nn, h)


@dataclass(frozen=True)
class PrivateKey:
    public: PublicKey
    p: mpz
    q: mpz
    hp: mpz = field(init=False)
    hq: mpz = field(init=False)
    q_inv_p: mpz = field(init=False)

    def __post_init__(self) -> None:
        n = self.public.n
        for name, prime in (("hp", self.p), ("hq", self.q)):
            # h = L_p((n+1)^(p-1) mod p^2)^-1 mod p  (Paillier's CRT decryption, g = n + 1)
            lp = (gmpy2.powmod(n + 1, prime - 1, prime * prime) - 1) // prime
            object.__setattr__(self, name, gmpy2.invert(lp, prime))
        object.__setattr__(self, "q_inv_p", gmpy2.invert(self.q, self.p))

    def decrypt(self, c: mpz | int) -> int:
        c = self.public.check_ciphertext(int(c))
        mp = (gmpy2.powmod(c, self.p - 1, self.p * self.p) - 1) // self.p * self.hp % self.p
        mq = (gmpy2.powmod(c, self.q - 1, self.q * self.q) - 1) // self.q * self.hq % self.q
        return int(mq + (mp - mq) * self.q_inv_p % self.p * self.q)


def generate(bits: int = 2048) -> PrivateKey:
    if bits < 256 or bits % 2:
        raise InvalidInput("Paillier key size must be an even number of bits, at least 256")
    while True:
        p, q = _random_prime(bits // 2), _random_prime(bits // 2)
        n = p * q
        if p != q and n.bit_length() == bits and gmpy2.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    x = mpz(secrets.randbelow(int(n) - 2) + 2)
    hs = gmpy2.powmod((-x * x) % n, n, n * n)
    return PrivateKey(PublicKey(n, hs), p, q)


class NoisePool:
    """n-th residues for encryption, made ahead of time (``fill``) and used once each (``take``)."""

    def __init__(self, key: PublicKey, textbook: bool = False, table: bool = True) -> None:
        self.key = key
        self.textbook = textbook
        self.alpha_bits = (key.bits + 1) // 2
        self._pool: list[mpz] = []
        self._table: list[list[mpz]] | None = None
        if not textbook and table:
            self._table = self._build_table()

    def _build_table(self) -> list[list[mpz]]:
        n2, base = self.key.n2, self.key.hs
        rows = []
        for _ in range(-(-self.alpha_bits // WINDOW)):
            row = [mpz(1), base]
            for _ in range(2, 1 << WINDOW):
                row.append(row[-1] * base % n2)
            rows.append(row)
            base = row[-1] * base % n2  # base^(2^WINDOW)
        return rows

    def fresh(self) -> mpz:
        if self.textbook:
            r = mpz(secrets.randbelow(int(self.key.n) - 1) + 1)
            return gmpy2.powmod(r, self.key.n, self.key.n2)
        alpha = secrets.randbits(self.alpha_bits)
        if self._table is None:
            return gmpy2.powmod(self.key.hs, alpha, self.key.n2)
        acc, n2, mask = mpz(1), self.key.n2, (1 << WINDOW) - 1
        for row in self._table:
            digit = alpha & mask
            if digit:
                acc = acc * row[digit] % n2
            alpha >>= WINDOW
        return acc

    def fill(self, count: int) -> None:
        self._pool.extend(self.fresh() for _ in range(count))

    def __len__(self) -> int:
        return len(self._pool)

    def take(self) -> mpz:
        """A pooled value, or a fresh one computed now if the pool ran dry (slower, never reused)."""
        return self._pool.pop() if self._pool else self.fresh()

    def encrypt(self, m: int) -> mpz:
        return self.key.encrypt_with(m, self.take())

    def encrypt_many(self, ms: Sequence[int]) -> list[mpz]:
        return [self.encrypt(m) for m in ms]


def multi_exp(key: PublicKey, bases: Sequence[mpz], exps: Sequence[int], window: int = 6) -> mpz:
    """prod bases[i]^exps[i] mod n^2 for small non-negative exponents (Pippenger buckets)."""
    n2 = key.n2
    top = max((int(e).bit_length() for e in exps), default=0)
    acc = mpz(1)
    mask = (1 << window) - 1
    for shift in range(((top + window - 1) // window - 1) * window, -1, -window):
        for _ in range(window):
            acc = acc * acc % n2
        buckets = [mpz(1)] * (1 << window)
        for b, e in zip(bases, exps):
            d = (e >> shift) & mask
            if d:
                buckets[d] = buckets[d] * b % n2
        running, window_sum = mpz(1), mpz(1)
        for d in range(mask, 0, -1):
            running = running * buckets[d] % n2
            window_sum = window_sum * running % n2
        acc = acc * window_sum % n2
    return acc
