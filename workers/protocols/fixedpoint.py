"""Fixed-point encoding into the ring Z_2^64 used by secure sums and secure aggregation.

A real ``x`` becomes ``round(x * 2^f)`` as a two's-complement 64-bit integer; integers use f = 0 and
are exact. A sum decodes correctly while its true value stays inside ``(-2^63, 2^63) / 2^f``; each
party checks its own contribution against ``2^63 / (2^f * parties)`` so no honest sum can wrap.
Rounding error is at most ``2^-(f+1)`` per encoded value.
"""

from __future__ import annotations

import numpy as np

from workers.protocols.errors import InvalidInput

RING_BITS = 64


def limit(frac_bits: int, parties: int) -> float:
    """Largest magnitude one party may contribute (in real units)."""
    return float(2**63 // max(parties, 1)) / float(2**frac_bits)


def encode(values: np.ndarray, frac_bits: int, parties: int) -> np.ndarray:
    """Reals (or integers, with frac_bits=0) to uint64 ring elements; refuses NaN, inf and out-of-range."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInput("values must be finite (no NaN or infinity)")
        bound = limit(frac_bits, parties)
        if arr.size and float(np.max(np.abs(arr))) >= bound:
            raise InvalidInput(f"a value exceeds the fixed-point range +-{bound:.6g} for {frac_bits} fractional bits")
        return np.rint(arr * float(2**frac_bits)).astype(np.int64).view(np.uint64)
    bound_i = 2**63 // max(parties, 1)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8 and not (arr.dtype.kind == "u" and arr.dtype.itemsize == 8):
        a = arr.astype(np.int64)
        cap = bound_i >> frac_bits
        if a.size and (int(a.max()) >= cap or int(a.min()) <= -cap):
            raise InvalidInput(f"an integer exceeds the ring's range +-{bound_i} (2^63 / parties) after scaling")
        return (a << frac_bits).view(np.uint64)
    if arr.dtype.kind in "iu" or arr.dtype == object:
        if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in arr.ravel()):
            raise InvalidInput("integer mode takes integers only")
        ints = [int(v) for v in arr.ravel()]
        scaled = [v << frac_bits for v in ints]
        if any(abs(v) >= bound_i for v in scaled):
            raise InvalidInput(f"an integer exceeds the ring's range +-{bound_i} (2^63 / parties) after scaling")
        return np.array(scaled, dtype=np.int64).view(np.uint64).reshape(arr.shape)
    raise InvalidInput(f"values must be numbers, got dtype {arr.dtype}")


def decode_int(ring: np.ndarray) -> list[int]:
    """Ring elements back to signed Python integers."""
    return [int(v) for v in ring.astype(np.uint64).view(np.int64)]


def decode(ring: np.ndarray, frac_bits: int) -> np.ndarray:
    return ring.astype(np.uint64).view(np.int64).astype(np.float64) / float(2**frac_bits)


# Wide integers: an integer of up to ``32 * limbs`` bits (two's complement) split into 32-bit limbs,
# each limb summed in Z_2^64. Limb sums of fewer than 2^32 parties never wrap, so carrying them
# afterwards gives the exact sum of the integers modulo 2^(32 * limbs).

LIMB_BITS = 32


def wide_limit(limbs: int, parties: int) -> int:
    return 2 ** (LIMB_BITS * limbs - 1) // max(parties, 1)


def encode_wide(values: list[int], limbs: int, parties: int) -> np.ndarray:
    bound = wide_limit(limbs, parties)
    mod = 1 << (LIMB_BITS * limbs)
    out = np.empty(len(values) * limbs, dtype=np.uint64)
    mask = (1 << LIMB_BITS) - 1
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInput("wide encoding takes integers only")
        if abs(v) >= bound:
            raise InvalidInput(f"a value exceeds the exact range +-2^{LIMB_BITS * limbs - 1} / parties")
        u = v % mod
        for j in range(limbs):
            out[i * limbs + j] = (u >> (LIMB_BITS * j)) & mask
    return out


def decode_wide(sums: np.ndarray, limbs: int) -> list[int]:
    mod = 1 << (LIMB_BITS * limbs)
    out = []
    for i in range(len(sums) // limbs):
        total = sum(int(sums[i * limbs + j]) << (LIMB_BITS * j) for j in range(limbs)) % mod
        out.append(total - mod if total >= mod // 2 else total)
    return out
