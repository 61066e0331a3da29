"""ECDH-PSI's pipelined schedule, its batch primitives and the vectorised tag matching, against oracles."""

from __future__ import annotations

import os
import random

import gmpy2
import msgpack
import pytest
from nacl.bindings import crypto_scalarmult

from tests.workers.helpers import run
from workers.protocols import curve25519 as c
from workers.protocols import psi
from workers.protocols.channel import MemoryHub, Session
from workers.protocols.errors import InvalidInput, InvalidPoint, ProtocolError

TWIST_U = next(u for u in range(2, 100) if gmpy2.jacobi(gmpy2.mpz(u**3 + c.A * u * u + u) % c.P, c.P) == -1)


def _truth(xs, ys):
    ys_set = set(ys)
    return [x for x in dict.fromkeys(xs) if x in ys_set]


def _frames(hub, sender, to):
    return [(env["kind"], env["body"].get("k")) for s, t, frame in hub.sent if (s, t) == (sender, to)
            for env in [msgpack.unpackb(frame, raw=False)]]


def test_schedule_streams_ahead_and_answers_one_step_late():
    """The server sends set batch t, then the reply to query batch t - lag: the documented order."""
    hub = MemoryHub(record=True)
    cfg = psi.PsiConfig(batch=8, lag=1)
    xs, ys = [f"x{i}" for i in range(20)], [f"x{i}" for i in range(10, 34)]  # 3 query batches, 3 set batches
    out = run({"client": lambda s: psi.run_client(s, "server", xs, cfg),
               "server": lambda s: psi.run_server(s, "client", ys, cfg)}, hub=hub)
    assert out["client"] == _truth(xs, ys)
    assert _frames(hub, "server", "client") == [("psi.hello", None), ("psi.set", 0), ("psi.set", 1), ("psi.reply", 0),
                                                ("psi.set", 2), ("psi.reply", 1), ("psi.reply", 2)]
    assert _frames(hub, "client", "server") == [("psi.hello", None), ("psi.query", 0), ("psi.query", 1), ("psi.query", 2)]


@pytest.mark.parametrize("lag", [1, 2, 3])
@pytest.mark.parametrize("nx,ny", [(70, 9), (9, 70), (33, 33), (0, 17), (17, 0)])
def test_every_lag_and_size_gives_the_plaintext_intersection(lag, nx, ny):
    rng = random.Random(lag * 1000 + nx * 10 + ny)
    pool = [f"id{i}" for i in range(120)]
    xs, ys = rng.sample(pool, nx), rng.sample(pool, ny)
    cfg = psi.PsiConfig(batch=8, lag=lag, result_to="both", threads=1)
    out = run({"client": lambda s: psi.run_client(s, "server", xs, cfg),
               "server": lambda s: psi.run_server(s, "client", ys, cfg)})
    assert out["client"] == _truth(xs, ys)
    assert sorted(out["server"]) == sorted(_truth(xs, ys))


def test_lag_mismatch_is_refused_in_the_hello():
    out = run({"client": lambda s: psi.run_client(s, "server", ["a"], psi.PsiConfig(batch=8, lag=1)),
               "server": lambda s: psi.run_server(s, "client", ["a"], psi.PsiConfig(batch=8, lag=2))},
              return_exceptions=True)
    assert isinstance(out["client"], ProtocolError) and "lag" in str(out["client"])
    with pytest.raises(InvalidInput):
        psi.PsiConfig(lag=0)


def test_batches_split_over_threads_match_a_single_thread():
    xs = [f"id{i}" for i in range(300)]
    ys = [f"id{i}" for i in range(150, 500)]
    cfg = psi.PsiConfig(batch=128, threads=2, result_to="both")
    out = run({"client": lambda s: psi.run_client(s, "server", xs, cfg),
               "server": lambda s: psi.run_server(s, "client", ys, cfg)})
    assert out["client"] == _truth(xs, ys) and sorted(out["server"]) == sorted(_truth(xs, ys))


def test_bytes_items_in_the_sm_suite_are_prehashed():
    mine, encoded = psi.distinct([b"a", b"b", b"a"], "sm")
    assert mine == [b"a", b"b"] and encoded == [psi.prehash("sm", b"a"), psi.prehash("sm", b"b")]
    assert psi.distinct([b"a", "a", b"b"], "std") == ([b"a", b"b"], [b"a", b"b"])  # mixed: str counts as its UTF-8


def _oracle(a: bytes, b: bytes) -> tuple[list[int], list[int]]:
    ta = [a[i:i + 16] for i in range(0, len(a), 16)]
    tb = [b[i:i + 16] for i in range(0, len(b), 16)]
    return [i for i, t in enumerate(ta) if t in set(tb)], [j for j, t in enumerate(tb) if t in set(ta)]


@pytest.mark.parametrize("case", ["random", "prefix_collision", "duplicates", "empty"])
def test_match_tags_equals_the_set_oracle(case):
    rng = random.Random(case)
    a = [rng.randbytes(16) for _ in range(500)]
    b = [rng.randbytes(16) for _ in range(400)] + rng.sample(a, 150)
    rng.shuffle(b)
    if case == "prefix_collision":  # same first 8 bytes, different last 8: not a match
        b[3] = a[7][:8] + bytes(8)
        b[5] = a[9][:8] + a[9][8:15] + bytes([a[9][15] ^ 1])
    if case == "duplicates":  # a hostile server may repeat tags or points
        b += b[:40]
        a += a[:3]
    if case == "empty":
        a = []
    ab, bb = b"".join(a), b"".join(b)
    in_a, in_b = psi.match_tags(ab, bb)
    assert (in_a.tolist(), in_b.tolist()) == _oracle(ab, bb)


def test_mul_many_equals_pynacl_and_refuses_short_or_small_order_points():
    key = os.urandom(32)
    points = [crypto_scalarmult(os.urandom(32), (9).to_bytes(32, "little")) for _ in range(5)]
    assert c.mul_many(key, points) == [crypto_scalarmult(key, p) for p in points]
    assert c.mul_many(key, points, 16) == [crypto_scalarmult(key, p)[:16] for p in points]
    with pytest.raises(InvalidPoint, match="31 bytes"):
        c.mul_many(key, [b"\x09" * 31])
    with pytest.raises(InvalidPoint, match="small order"):
        c.mul_many(key, [bytes(32)])
    with pytest.raises(ValueError):
        c.mul_many(key[:31], points)


@pytest.mark.parametrize("bad,match", [((c.P + 5).to_bytes(32, "little"), "canonical"),
                                       (TWIST_U.to_bytes(32, "little"), "twist"),
                                       ((1).to_bytes(32, "little"), "small order")])
def test_check_and_mul_refuses_a_bad_point_anywhere_in_a_batch(bad, match):
    key = os.urandom(32)
    good = [crypto_scalarmult(os.urandom(32), (9).to_bytes(32, "little")) for _ in range(40)]
    assert c.check_and_mul(key, b"".join(good), 16) == [crypto_scalarmult(key, p)[:16] for p in good]
    with pytest.raises(InvalidPoint, match=match):
        c.check_and_mul(key, b"".join(good[:37] + [bad] + good[37:]), 16)
    with pytest.raises(InvalidPoint, match="multiple"):
        c.check_and_mul(key, b"".join(good)[:-1])


def test_a_twist_point_in_a_set_batch_stops_the_client():
    hub = MemoryHub()
    server = Session(hub.transport("server"), "task-1", 5)
    server.send("client", "psi.hello", 0, {"n": 2, "batch": 8, "suite": "std", "result_to": "client", "lag": 1})
    server.send("client", "psi.set", 1, {"k": 0, "points": (9).to_bytes(32, "little") + TWIST_U.to_bytes(32, "little")})
    with pytest.raises(InvalidPoint, match="twist"):
        psi.run_client(Session(hub.transport("client"), "task-1", 5), "server", ["a"], psi.PsiConfig(batch=8))
