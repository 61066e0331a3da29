"""Secure statistics among three or more data parties: count, sum, mean, variance, grouped by label.

Each data party reduces its own rows to ``[count_g, sum_g, sumsq_g]`` for every public group label
g, encodes them in Z_2^64 (``fixedpoint``: exact for integers, ``frac_bits`` fractional bits for
reals) as 128-bit integers split into four 32-bit limbs (``fixedpoint.encode_wide``), adds pairwise masks agreed with every other data party (``masks``) and sends the masked
vector to the result receiver, who adds them up: the masks cancel and only the totals remain.
The receiver (a data party or not) learns the per-group totals and what follows from them; any
single masked vector is uniformly random to whoever lacks one of its party's pairwise seeds, so
parties learn nothing from each other, and the receiver nothing about a party, unless all other
data parties but that one collude with it. A data party that stops answering fails the task with
``PeerTimeout`` (no dropout recovery here; that is ``secagg``'s job).

Rounds: 0 ``stats.key {pk}`` between every pair of data parties; 1 ``stats.masked {vec}`` from each
data party to the receiver, ``vec`` = uint64 little-endian, ``3 * 4 * len(groups)`` of them (or any
length for ``secure_sum``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from workers.protocols import fixedpoint, masks
from workers.protocols.channel import Session
from workers.protocols.errors import InvalidInput
from workers.protocols.messages import packed

MIN_PARTIES = 3
LIMBS = 4  # statistics are summed as 128-bit integers: exact while |total| < 2^127


def _check_roles(session: Session, parties: list[str], receiver: str) -> None:
    if len(set(parties)) != len(parties) or len(parties) < MIN_PARTIES:
        raise InvalidInput(f"secure sums need at least {MIN_PARTIES} distinct data parties")
    if session.party not in parties and session.party != receiver:
        raise InvalidInput(f"{session.party!r} is neither a data party nor the receiver")


def secure_sum(session: Session, parties: list[str], receiver: str, vector: np.ndarray | None,
               kind: str = "sum") -> np.ndarray | None:
    """Elementwise sum over ``parties`` of their uint64 ``vector``s, returned to ``receiver`` only.

    Data parties pass their encoded vector (``None`` for a receiver that holds no data).
    """
    _check_roles(session, parties, receiver)
    me = session.party
    masked = None
    if me in parties:
        if vector is None or vector.dtype != np.uint64 or vector.ndim != 1:
            raise InvalidInput("a data party's vector must be one-dimensional uint64 (see fixedpoint.encode)")
        _, seeds = masks.exchange_keys(session, [p for p in parties if p != me], f"{kind}.key", 0)
        masked = masks.mask(vector, me, seeds)
        if me != receiver:
            session.send(receiver, f"{kind}.masked", 1, {"vec": masked.astype("<u8").tobytes()})
    if me != receiver:
        return None
    total = masked.copy() if masked is not None else None
    for p in parties:
        if p == me:
            continue
        want = None if total is None else len(total)
        vec = np.frombuffer(packed(session.recv(p, f"{kind}.masked", 1), "vec", 8, count=want), dtype="<u8").astype(np.uint64)
        total = vec if total is None else total + vec
    assert total is not None
    return total


@dataclass(frozen=True)
class StatsSpec:
    """Agreed by all parties before the run (it is part of the task definition)."""

    groups: tuple[str, ...] = ("*",)
    integer: bool = True   # exact integer arithmetic; else fixed point with frac_bits
    frac_bits: int = 24

    def __post_init__(self) -> None:
        if not self.groups or len(set(self.groups)) != len(self.groups):
            raise InvalidInput("groups must be distinct and non-empty")
        if not 0 <= self.frac_bits <= 64:
            raise InvalidInput("frac_bits must be in [0, 64]")


@dataclass(frozen=True)
class GroupStats:
    count: int
    sum: int | float
    mean: Fraction | float | None      # None for an empty group
    variance: Fraction | float | None  # population variance; None for an empty group
    sum_squares: int | float


def local_vector(values: list[int] | list[float] | np.ndarray, groups: list[str] | None, spec: StatsSpec,
                 parties: int) -> np.ndarray:
    """A data party's own ``[count, sum, sumsq]`` per group, encoded for the ring."""
    vals = list(values)
    labels = list(groups) if groups is not None else [spec.groups[0]] * len(vals)
    if groups is None and len(spec.groups) != 1:
        raise InvalidInput("grouped statistics need a group label per value")
    if len(labels) != len(vals):
        raise InvalidInput("one group label per value")
    index = {g: i for i, g in enumerate(spec.groups)}
    unknown = {g for g in labels if g not in index}
    if unknown:
        raise InvalidInput(f"group labels not in the task's list: {sorted(unknown)[:5]}")
    if spec.integer:
        if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in vals):
            raise InvalidInput("integer statistics take integers only (use integer=False for reals)")
        acc = [[0, 0, 0] for _ in spec.groups]
        for v, g in zip(vals, labels):
            row = acc[index[g]]
            row[0] += 1
            row[1] += int(v)
            row[2] += int(v) * int(v)
        return fixedpoint.encode_wide([x for row in acc for x in row], LIMBS, parties)
    arr = np.asarray(vals, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidInput("values must be finite (no NaN or infinity)")
    gi = np.array([index[g] for g in labels], dtype=np.int64)
    counts = np.bincount(gi, minlength=len(spec.groups))
    sums = np.bincount(gi, weights=arr, minlength=len(spec.groups))
    sq = np.bincount(gi, weights=arr * arr, minlength=len(spec.groups))
    scale = 2**spec.frac_bits
    flat: list[int] = []
    for n, s, q in zip(counts, sums, sq):
        flat += [int(n), int(round(float(s) * scale)), int(round(float(q) * scale))]
    return fixedpoint.encode_wide(flat, LIMBS, parties)


def finish(total: np.ndarray, spec: StatsSpec) -> dict[str, GroupStats]:
    """The receiver's decoding of the summed vector into per-group statistics."""
    out: dict[str, GroupStats] = {}
    ints = fixedpoint.decode_wide(total, LIMBS)
    for i, g in enumerate(spec.groups):
        n, s_raw, q_raw = ints[3 * i:3 * i + 3]
        if spec.integer:
            s: int | float = s_raw
            q: int | float = q_raw
            mean: Fraction | float | None = Fraction(s_raw, n) if n else None
            var: Fraction | float | None = Fraction(n * q_raw - s_raw * s_raw, n * n) if n else None
        else:
            s, q = s_raw / 2**spec.frac_bits, q_raw / 2**spec.frac_bits
            mean = s / n if n else None
            var = max(q / n - (s / n) ** 2, 0.0) if n else None
        out[g] = GroupStats(n, s, mean, var, q)
    return out


def run(session: Session, parties: list[str], receiver: str, values: list | np.ndarray | None,
        groups: list[str] | None = None, spec: StatsSpec = StatsSpec()) -> dict[str, GroupStats] | None:
    """One party's role. Data parties pass their values (and labels); the receiver gets the result."""
    _check_roles(session, parties, receiver)
    vector = None
    if session.party in parties:
        if values is None:
            raise InvalidInput("a data party must pass its values (an empty list is fine)")
        vector = local_vector(values, groups, spec, len(parties))
    total = secure_sum(session, parties, receiver, vector, kind="stats")
    if total is None:
        return None
    if len(total) != 3 * LIMBS * len(spec.groups):
        raise InvalidInput("summed vector does not match the group list")
    return finish(total, spec)
