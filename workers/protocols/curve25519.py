"""Curve25519 for ECDH-PSI: hashing items to u-coordinates, checking received points, batched X25519.

Hash to curve is RFC 9380's ``curve25519_XMD:SHA-512_ELL2_NU_`` encoding (expand_message_xmd with
SHA-512, then Elligator 2), computed on the u-coordinate only, which is all X25519 uses. Elligator 2
gives points whose discrete logarithm nobody knows, unlike "hash bytes as u" (which lands half the
items on the twist). The RFC's final cofactor clearing (multiply by 8) is left to X25519 itself:
libsodium clamps every scalar to a multiple of 8, so ``X25519(k, u(Q)) = X25519(k', u(8Q))`` for the
same clamped k, and clearing twice would change no comparison. ``encode_to_curve`` (with the
clearing, for the RFC's test vectors) and ``map_to_u`` (without, for the protocol) share the code.

X25519 commutes: ``X25519(a, X25519(b, P)) == X25519(b, X25519(a, P))``, which is what ECDH-PSI needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor

import gmpy2
from nacl._sodium import ffi as _ffi  # PyNaCl's own cffi binding of libsodium (see mul_many)
from nacl._sodium import lib as _lib

from workers.protocols.errors import InvalidPoint

P = 2**255 - 19
A = 486662
_P = gmpy2.mpz(P)
_A = gmpy2.mpz(A)
_ONE = gmpy2.mpz(1)
POINT_BYTES = 32
# u-coordinates of points of small order (and their non-canonical twins), as libsodium lists them.
SMALL_ORDER_U = frozenset({
    0, 1, P - 1, P, P + 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
})


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512."""
    if len(dst) > 255:
        raise ValueError("DST longer than 255 bytes")
    ell = -(-length // 64)
    if ell > 255 or length > 65535:
        raise ValueError("requested length too large")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    out = b = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    for i in range(2, ell + 1):
        b = hashlib.sha512(bytes(x ^ y for x, y in zip(b0, b)) + bytes([i]) + dst_prime).digest()
        out += b
    return out[:length]


class ItemHasher:
    """Hashes items to Curve25519 u-coordinates under one domain separation tag (per task and suite)."""

    def __init__(self, dst: bytes) -> None:
        if not 0 < len(dst) <= 255:
            raise ValueError("DST must be 1..255 bytes")
        self.dst_prime = dst + bytes([len(dst)])
        self._prefix = hashlib.sha512(bytes(128))  # Z_pad is exactly one SHA-512 block: hash it once
        self._tail = (48).to_bytes(2, "big") + b"\x00" + self.dst_prime
        self._suffix = b"\x01" + self.dst_prime

    def field_element(self, item: bytes) -> gmpy2.mpz:
        h = self._prefix.copy()
        h.update(item)
        h.update(self._tail)
        b1 = hashlib.sha512(h.digest() + self._suffix).digest()
        return gmpy2.mpz(int.from_bytes(b1[:48], "big")) % _P

    def map_to_u(self, item: bytes) -> bytes:
        """u(map_to_curve(hash_to_field(item))), little-endian, before cofactor clearing."""
        return int(elligator2_u(self.field_element(item))).to_bytes(32, "little")

    def map_to_u_batch(self, items: Sequence[bytes]) -> list[bytes]:
        """``map_to_u`` for many items with one field inversion (Montgomery's trick) instead of one each.

        ``field_element`` and the curve equation are inlined: this loop is a tenth of a PSI's CPU.
        """
        start, tail, suffix, sha512, from_bytes = self._prefix, self._tail, self._suffix, hashlib.sha512, gmpy2.mpz.from_bytes
        rs = []
        for item in items:
            h = start.copy()
            h.update(item)
            h.update(tail)
            rs.append(from_bytes(sha512(h.digest() + suffix).digest()[:48], "big") % _P)
        dens = [(2 * r * r + 1) % _P for r in rs]
        if not all(dens):  # 1 + 2 r^2 = 0 has no solution mod p (-1/2 is not a square); keep the RFC's case anyway
            return [self.map_to_u(x) for x in items]
        prefix = []
        acc = _ONE
        for d in dens:
            prefix.append(acc)
            acc = acc * d % _P
        inv = gmpy2.invert(acc, _P) if dens else _ONE
        out = [b""] * len(dens)
        jacobi, neg_a = gmpy2.jacobi, -_A
        for i in range(len(dens) - 1, -1, -1):
            x1 = neg_a * inv * prefix[i] % _P
            inv = inv * dens[i] % _P
            if jacobi(x1 * (x1 * (x1 + _A) + 1), _P) < 0:  # g(x1) is not a square (never 0: x1 != 0)
                x1 = (-x1 - _A) % _P
            out[i] = x1.to_bytes(32, "little")
        return out

    def encode_to_curve(self, item: bytes) -> int:
        """The RFC 9380 encode_to_curve output's u-coordinate (with the cofactor cleared)."""
        u = elligator2_u(self.field_element(item))
        for _ in range(3):
            u = x_double(u)
        return int(u)


def _is_square(x: gmpy2.mpz) -> bool:
    return bool(gmpy2.jacobi(x, _P) >= 0)


def elligator2_u(r: gmpy2.mpz) -> gmpy2.mpz:
    """RFC 9380 section 6.7.1 (Z = 2), u-coordinate only."""
    den = (1 + 2 * r * r) % _P
    x1 = (-_A * gmpy2.invert(den, _P)) % _P if den else _P - _A
    if x1 == 0:
        x1 = _P - _A
    if _is_square((x1 * x1 * x1 + _A * x1 * x1 + x1) % _P):
        return x1
    return (-x1 - _A) % _P


def x_double(u: gmpy2.mpz) -> gmpy2.mpz:
    """u(2Q) from u(Q) on the Montgomery curve; raises ZeroDivisionError at a point of order 2."""
    num = (u * u - 1) ** 2 % _P
    den = 4 * u * (u * u + _A * u + 1) % _P
    if den == 0:
        raise ZeroDivisionError("point of order dividing 2")
    return num * gmpy2.invert(den, _P) % _P


def check_point(point: bytes) -> None:
    """Refuse a received u-coordinate unless canonical, on the curve (not its twist) and not of small order."""
    if len(point) != POINT_BYTES:
        raise InvalidPoint(f"point has {len(point)} bytes, expected {POINT_BYTES}")
    u = int.from_bytes(point, "little")
    if u >= P:
        raise InvalidPoint("point encoding is not canonical (u >= 2^255 - 19)")
    if u in SMALL_ORDER_U:
        raise InvalidPoint("point of small order")
    g = gmpy2.mpz(u)
    if gmpy2.jacobi(g * (g * (g + _A) + 1), _P) != 1:  # Legendre symbol of u^3 + A u^2 + u (jacobi reduces mod p)
        raise InvalidPoint("point is not on Curve25519 (it lies on the twist)")


HASH_RUN = 32  # items hashed between multiplications: short runs of Python keep the GIL free for the others


def hash_and_mul(hasher: ItemHasher, scalar: bytes, items: Sequence[bytes]) -> list[bytes]:
    """X25519(scalar, H(item)) for each item.

    Hashing is pure Python and holds the GIL; each multiplication releases it. Hashing a whole batch
    first would hold the GIL for tens of milliseconds, during which every other thread's finished
    multiplication waits for the interpreter's 5 ms switch interval: interleaving short runs keeps
    the other party's threads (and this party's second thread) running.
    """
    out: list[bytes] = []
    for i in range(0, len(items), HASH_RUN):
        out += mul_many(scalar, hasher.map_to_u_batch(items[i:i + HASH_RUN]))
    return out


def mul_many(scalar: bytes, points: Iterable[bytes], keep: int = POINT_BYTES) -> list[bytes]:
    """The first ``keep`` bytes of X25519(scalar, p) for each point p (of 32 bytes, checked by the caller).

    Calls PyNaCl's libsodium binding directly with one output buffer: PyNaCl's ``crypto_scalarmult``
    wrapper checks and allocates on every call, about 0.4 us, 1.4 % of a multiplication.
    """
    if len(scalar) != 32:
        raise ValueError("an X25519 scalar has 32 bytes")
    buf = _ffi.new("unsigned char[32]")
    view = _ffi.buffer(buf)
    x25519 = _lib.crypto_scalarmult
    out = []
    for p in points:
        if len(p) != POINT_BYTES:  # the C function reads 32 bytes whatever it is given
            raise InvalidPoint(f"point has {len(p)} bytes, expected {POINT_BYTES}")
        if x25519(buf, scalar, p) != 0:  # libsodium refuses an all-zero result (a small-order input)
            raise InvalidPoint("point of small order (X25519 result is zero)")
        out.append(view[:keep])
    return out


def check_and_mul(scalar: bytes, blob: bytes, keep: int = POINT_BYTES) -> list[bytes]:
    """``mul_many`` over the received 32-byte points packed in ``blob``, each refused by ``check_point`` first."""
    if len(blob) % POINT_BYTES:
        raise InvalidPoint(f"{len(blob)} bytes of points is not a multiple of {POINT_BYTES}")
    points = [blob[i:i + POINT_BYTES] for i in range(0, len(blob), POINT_BYTES)]
    out: list[bytes] = []
    for i in range(0, len(points), HASH_RUN):  # short runs, as in hash_and_mul
        run = points[i:i + HASH_RUN]
        for p in run:
            check_point(p)
        out += mul_many(scalar, run, keep)
    return out


def hash_and_mul_batch(hasher: ItemHasher, scalar: bytes, items: Sequence[bytes], executor: Executor | None = None,
                       parts: int = 2) -> list[bytes]:
    if executor is None or len(items) < 64:
        return hash_and_mul(hasher, scalar, items)
    step = -(-len(items) // parts)
    futures = [executor.submit(hash_and_mul, hasher, scalar, items[i:i + step]) for i in range(0, len(items), step)]
    out: list[bytes] = []
    for f in futures:
        out.extend(f.result())
    return out
