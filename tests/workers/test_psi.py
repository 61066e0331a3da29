"""ECDH-PSI against the plaintext intersection, and its refusals."""

from __future__ import annotations

import random

import pytest

from tests.workers.helpers import run
from workers.protocols import psi
from workers.protocols.channel import MemoryHub, Session
from workers.protocols.errors import InvalidInput, InvalidPoint, PeerTimeout, ProtocolError

CFG = psi.PsiConfig(batch=64, threads=2)


def _psi(xs, ys, cfg=CFG, **kw):
    return run({"client": lambda s: psi.run_client(s, "server", xs, cfg),
                "server": lambda s: psi.run_server(s, "client", ys, cfg, **kw)})


def _truth(xs, ys):
    ys_set = set(ys)
    return [x for x in dict.fromkeys(xs) if x in ys_set]


@pytest.mark.parametrize("nx,ny,common", [(300, 200, 120), (5, 700, 3), (700, 5, 5), (1, 1, 1), (50, 50, 0)])
def test_intersection_equals_plaintext_oracle(nx, ny, common):
    rng = random.Random(nx * 1000 + ny)
    shared = [f"shared-{i}" for i in range(common)]
    xs = shared + [f"x-{i}" for i in range(nx - common)]
    ys = shared + [f"y-{i}" for i in range(ny - common)]
    rng.shuffle(xs)
    rng.shuffle(ys)
    out = _psi(xs, ys, psi.PsiConfig(batch=64, result_to="both"))
    assert out["client"] == _truth(xs, ys)
    assert sorted(out["server"]) == sorted(_truth(xs, ys))


def test_duplicates_count_once_and_bytes_items_work():
    xs = [b"a", b"b", b"a", b"c", b"c", b"\x00"]
    ys = [b"c", b"c", b"a", b"z", b"\x00", b"\x00"]
    out = _psi(xs, ys, psi.PsiConfig(batch=2, result_to="both"))
    assert out["client"] == [b"a", b"c", b"\x00"]
    assert sorted(out["server"]) == sorted([b"a", b"c", b"\x00"])


@pytest.mark.parametrize("xs,ys", [([], []), ([], ["a"]), (["a"], [])])
def test_empty_sets_give_an_empty_intersection(xs, ys):
    out = _psi(xs, ys, psi.PsiConfig(batch=8, result_to="both"))
    assert out["client"] == [] and out["server"] == []


def test_result_to_client_only_leaves_the_server_without_it():
    out = _psi(["a", "b"], ["b", "c"])
    assert out["client"] == ["b"] and out["server"] is None


def test_sm_suite_gives_the_same_answer():
    cfg = psi.PsiConfig(batch=16, suite="sm", result_to="both")
    out = _psi([f"i{i}" for i in range(40)], [f"i{i}" for i in range(30, 90)], cfg)
    assert out["client"] == [f"i{i}" for i in range(30, 40)]


def test_cached_server_set_serves_several_clients(tmp_path):
    ys = [f"id{i}" for i in range(150)]
    _, encoded = psi.distinct(ys, "std")
    cache = psi.BlindedSet.build(encoded, "std", batch=64, path=tmp_path / "blinded.bin")
    for xs in ([f"id{i}" for i in range(100, 200)], [f"id{i}" for i in range(0, 300, 7)]):
        cfg = psi.PsiConfig(batch=64, result_to="both")
        out = run({"client": lambda s, xs=xs: psi.run_client(s, "server", xs, cfg),
                   "server": lambda s: psi.run_server(s, "client", ys, cfg, cache=cache)})
        assert out["client"] == _truth(xs, ys)
        assert sorted(out["server"]) == sorted(_truth(xs, ys))
    with pytest.raises(InvalidInput):
        run({"server": lambda s: psi.run_server(s, "client", ys[:10], CFG, cache=cache)})


def test_server_stream_is_shuffled():
    ys = [f"id{i}" for i in range(200)]
    _, encoded = psi.distinct(ys, "std")
    cache = psi.BlindedSet.build(encoded, "std", batch=64)
    assert sorted(cache.order.tolist()) == list(range(200)) and cache.order.tolist() != list(range(200))


def test_configuration_mismatch_is_refused():
    out = run({"client": lambda s: psi.run_client(s, "server", ["a"], psi.PsiConfig(batch=8)),
               "server": lambda s: psi.run_server(s, "client", ["a"], psi.PsiConfig(batch=16))},
              return_exceptions=True)
    assert isinstance(out["client"], ProtocolError) and "batch" in str(out["client"])


def test_small_order_point_from_a_client_is_refused():
    hub = MemoryHub()
    client = Session(hub.transport("client"), "task-1", 5)
    client.send("server", "psi.hello", 0, {"n": 2, "batch": 8, "suite": "std", "result_to": "client", "lag": 1})
    client.send("server", "psi.query", 1, {"k": 0, "points": bytes(32) + (9).to_bytes(32, "little")})
    with pytest.raises(InvalidPoint):
        psi.run_server(Session(hub.transport("server"), "task-1", 5), "client", ["a"], psi.PsiConfig(batch=8))


def test_wrong_length_batch_is_refused():
    hub = MemoryHub()
    client = Session(hub.transport("client"), "task-1", 5)
    client.send("server", "psi.hello", 0, {"n": 2, "batch": 8, "suite": "std", "result_to": "client", "lag": 1})
    client.send("server", "psi.query", 1, {"k": 0, "points": (9).to_bytes(32, "little")})  # one point, two promised
    with pytest.raises(ProtocolError, match="expected 2"):
        psi.run_server(Session(hub.transport("server"), "task-1", 5), "client", ["a"], psi.PsiConfig(batch=8))


def test_bad_result_indices_are_refused():
    hub = MemoryHub()
    server_items = ["a", "b"]
    client = Session(hub.transport("client"), "task-1", 5)
    cfg = psi.PsiConfig(batch=8, result_to="both")
    client.send("server", "psi.hello", 0, {"n": 0, "batch": 8, "suite": "std", "result_to": "both", "lag": 1})
    client.send("server", "psi.result", 2, {"indices": (5).to_bytes(4, "little")})
    with pytest.raises(ProtocolError, match="strictly increasing"):
        psi.run_server(Session(hub.transport("server"), "task-1", 5), "client", server_items, cfg)


def test_server_that_stops_answering_gives_a_timeout():
    out = run({"client": lambda s: psi.run_client(s, "server", ["a", "b"], CFG)}, timeout=0.3, return_exceptions=True)
    assert isinstance(out["client"], PeerTimeout) and "'server' stopped answering" in str(out["client"])
