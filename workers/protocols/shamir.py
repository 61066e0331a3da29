"""Shamir secret sharing of 32-byte secrets over the prime field GF(2^521 - 1) (threshold t of n).

Used by ``secagg`` so that any t surviving clients can rebuild a dropped client's mask key (or a
survivor's self-mask seed). Share x-coordinates are 1..n (the clients' positions in the agreed
roster); a share is (x, y) with y encoded as 66 bytes big-endian.
"""

from __future__ import annotations

import secrets

from workers.protocols.errors import InvalidInput, MalformedMessage

PRIME = 2**521 - 1
SHARE_BYTES = 66


def split(secret: bytes, threshold: int, n: int) -> list[bytes]:
    """Shares for x = 1..n; any ``threshold`` of them recover ``secret``."""
    if not 1 <= threshold <= n or n >= PRIME:
        raise InvalidInput("need 1 <= threshold <= n")
    coeffs = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    out = []
    for x in range(1, n + 1):
        y = 0
        for c in reversed(coeffs):
            y = (y * x + c) % PRIME
        out.append(y.to_bytes(SHARE_BYTES, "big"))
    return out


def combine(shares: dict[int, bytes], threshold: int, length: int = 32) -> bytes:
    """The secret from at least ``threshold`` shares keyed by x; raises if too few or malformed."""
    if len(shares) < threshold:
        raise InvalidInput(f"{len(shares)} shares cannot rebuild a {threshold}-of-n secret")
    pts = list(shares.items())[:threshold]
    for x, y in pts:
        if not 1 <= x < PRIME or len(y) != SHARE_BYTES or int.from_bytes(y, "big") >= PRIME:
            raise MalformedMessage("malformed Shamir share")
    secret = 0
    for i, (xi, yi) in enumerate(pts):
        num, den = 1, 1
        for j, (xj, _) in enumerate(pts):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + int.from_bytes(yi, "big") * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * length):
        raise MalformedMessage("Shamir shares are inconsistent (rebuilt value too large)")
    return secret.to_bytes(length, "big")
