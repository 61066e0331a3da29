"""Secure statistics against plaintext statistics: exact for integers, within the stated precision for reals."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from tests.workers.helpers import run
from workers.protocols import fixedpoint, stats
from workers.protocols.channel import MemoryHub
from workers.protocols.errors import InvalidInput, PeerTimeout

PARTIES = ["bank-a", "bank-b", "bank-c", "bank-d"]


DEFAULT = stats.StatsSpec()


def _run(data, groups=None, spec=DEFAULT, receiver="bank-a", parties=PARTIES, **kw):
    roles = {p: (lambda s, p=p: stats.run(s, parties, receiver, data.get(p), (groups or {}).get(p), spec)) for p in parties}
    if receiver not in parties:
        roles[receiver] = lambda s: stats.run(s, parties, receiver, None, None, spec)
    return run(roles, **kw)


def test_integer_statistics_are_exact_per_group():
    rng = random.Random(7)
    regions = ("north", "south", "empty")
    data = {p: [rng.randint(-10**12, 10**12) for _ in range(rng.randint(0, 60))] for p in PARTIES}
    groups = {p: [rng.choice(regions[:2]) for _ in data[p]] for p in PARTIES}
    out = _run(data, groups, stats.StatsSpec(groups=regions))
    for g in regions:
        vals = [v for p in PARTIES for v, gg in zip(data[p], groups[p]) if gg == g]
        got = out["bank-a"][g]
        assert got.count == len(vals) and got.sum == sum(vals) and got.sum_squares == sum(v * v for v in vals)
        if vals:
            mean = Fraction(sum(vals), len(vals))
            assert got.mean == mean
            assert got.variance == sum((v - mean) ** 2 for v in vals) / len(vals)
        else:
            assert got.mean is None and got.variance is None
    assert all(out[p] is None for p in PARTIES[1:])


def test_real_statistics_within_stated_precision_and_external_receiver():
    rng = np.random.default_rng(3)
    data = {p: rng.normal(50.0, 10.0, size=200).tolist() for p in PARTIES}
    spec = stats.StatsSpec(integer=False, frac_bits=20)
    out = _run(data, spec=spec, receiver="regulator")["regulator"]["*"]
    allv = np.concatenate([np.array(v) for v in data.values()])
    bound = len(PARTIES) * 2.0 ** -(spec.frac_bits + 1) + 1e-9
    assert out.count == len(allv)
    assert abs(out.sum - allv.sum()) <= bound
    assert abs(out.mean - allv.mean()) <= bound
    assert abs(out.variance - allv.var()) <= 1e-6


def test_receiver_sees_masked_vectors_only():
    hub = MemoryHub(record=True)
    data = {p: [1, 2, 3] for p in PARTIES}
    _run(data, hub=hub)
    own = fixedpoint.encode_wide([3, 6, 14], stats.LIMBS, len(PARTIES)).astype("<u8").tobytes()
    masked = [f for s, t, f in hub.sent if t == "bank-a" and b"stats.masked" in f]
    assert len(masked) == 3 and all(own not in f for f in masked)


def test_secure_sum_of_vectors():
    rng = np.random.default_rng(1)
    vecs = {p: rng.integers(-2**40, 2**40, size=1000) for p in PARTIES[:3]}
    enc = {p: fixedpoint.encode(v, 0, 3) for p, v in vecs.items()}
    out = run({p: (lambda s, p=p: stats.secure_sum(s, PARTIES[:3], "bank-b", enc[p])) for p in PARTIES[:3]})
    assert fixedpoint.decode_int(out["bank-b"]) == [int(x) for x in sum(vecs.values())]


@pytest.mark.parametrize("values,spec,match", [
    ([1.5], stats.StatsSpec(), "integers only"),
    ([float("nan")], stats.StatsSpec(integer=False), "finite"),
    ([1e30], stats.StatsSpec(integer=False), "range"),
    ([2**127], stats.StatsSpec(), "range"),
    ([True], stats.StatsSpec(), "integers only"),
])
def test_bad_values_are_refused(values, spec, match):
    with pytest.raises(InvalidInput, match=match):
        stats.local_vector(values, None, spec, 4)


def test_unknown_group_and_too_few_parties_are_refused():
    with pytest.raises(InvalidInput, match="not in the task's list"):
        stats.local_vector([1], ["west"], stats.StatsSpec(groups=("north",)), 4)
    out = _run({"a": [1], "b": [2]}, parties=["a", "b"], receiver="a", return_exceptions=True)
    assert isinstance(out["a"], InvalidInput)


def test_silent_party_fails_the_task_with_a_timeout():
    roles = {p: (lambda s, p=p: stats.run(s, PARTIES, "bank-a", [1], None)) for p in PARTIES[:3]}
    out = run(roles, timeout=0.3, return_exceptions=True)
    assert isinstance(out["bank-a"], PeerTimeout) and "bank-d" in str(out["bank-a"])
