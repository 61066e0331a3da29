"""Property tests: PSI and secure statistics against their oracles on random inputs; decoding never crashes."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workers.helpers import run
from workers.protocols import psi, stats
from workers.protocols.errors import MalformedMessage
from workers.protocols.messages import decode

ITEMS = st.lists(st.binary(max_size=6), max_size=25)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ITEMS, ITEMS, st.integers(1, 9))
def test_psi_equals_set_intersection(xs, ys, batch):
    cfg = psi.PsiConfig(batch=batch, threads=1, result_to="both")
    out = run({"c": lambda s: psi.run_client(s, "s", xs, cfg), "s": lambda s: psi.run_server(s, "c", ys, cfg)}, timeout=2)
    expected = [x for x in dict.fromkeys(xs) if x in set(ys)]
    assert out["c"] == expected
    assert sorted(out["s"]) == sorted(expected)


@FAST
@given(st.lists(st.lists(st.integers(-2**58, 2**58), max_size=8), min_size=3, max_size=5))
def test_integer_statistics_are_exact(columns):
    parties = [f"p{i}" for i in range(len(columns))]
    out = run({p: (lambda s, i=i: stats.run(s, parties, "p0", columns[i])) for i, p in enumerate(parties)}, timeout=2)
    allv = [v for col in columns for v in col]
    got = out["p0"]["*"]
    assert (got.count, got.sum, got.sum_squares) == (len(allv), sum(allv), sum(v * v for v in allv))
    if allv:
        mean = Fraction(sum(allv), len(allv))
        assert got.mean == mean and got.variance == sum((v - mean) ** 2 for v in allv) / len(allv)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_raises_only_malformed_message(frame):
    try:
        decode(frame)
    except MalformedMessage:
        pass
