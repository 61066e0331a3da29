"""Anonymous lookup: right answers, a holder's view independent of the key, refusals."""

from __future__ import annotations

import hashlib

import pytest
import rbcl

from tests.workers.helpers import run
from workers.protocols import lookup
from workers.protocols.channel import MemoryHub, Session, run_parties
from workers.protocols.errors import InvalidPoint, ProtocolError

LIST = {f"blacklisted-{i}": (f"reason {i}".encode() if i % 3 else None) for i in range(300)}


def _serve(holder, session, querier="q", **kw):
    holder.send_table(session, querier, batch=100)
    return holder.serve(session, querier, **kw)


def test_lookups_answer_membership_and_payloads():
    holder = lookup.LookupHolder(LIST)
    keys = ["blacklisted-1", "blacklisted-3", "clean-1", "blacklisted-299", "blacklisted-300"]

    def querier(s):
        q = lookup.LookupQuerier(s, "h")
        assert q.receive_table() == len(LIST)
        first = q.query(keys[:2])
        second = q.query(keys[2:])
        q.close()
        return {**first, **second}

    out = run({"h": lambda s: _serve(holder, s), "q": querier})
    res = out["q"]
    for k in keys:
        assert res[k].found == (k in LIST)
        assert res[k].payload == LIST.get(k)
    assert out["h"] == len(keys)


def test_plain_list_and_sm_suite():
    holder = lookup.LookupHolder(["a", "b", b"c"], suite="sm")

    def querier(s):
        q = lookup.LookupQuerier(s, "h", suite="sm")
        q.receive_table()
        r = q.query(["a", b"c", "d"])
        q.close()
        return r

    res = run({"h": lambda s: _serve(holder, s), "q": querier})["q"]
    assert [res[k].found for k in ("a", b"c", "d")] == [True, True, False]


def _known_log_hasher(encoded: bytes) -> bytes:
    """A test hash to the group whose discrete logs we know: h(x) * B."""
    return rbcl.crypto_scalarmult_ristretto255_base(_log(encoded))


def _log(encoded: bytes) -> bytes:
    return rbcl.crypto_core_ristretto255_scalar_reduce(hashlib.sha512(b"log" + encoded).digest())


def _holder_view(key: str, blind: bytes) -> bytes:
    hub = MemoryHub(record=True)
    s = Session(hub.transport("q"), "task-1", 5)
    q = lookup.LookupQuerier(s, "h", hasher=_known_log_hasher, random_scalar=lambda: blind)
    holder = Session(hub.transport("h"), "task-1", 5)
    h = lookup.LookupHolder(["x"])
    out = run_parties({"h": lambda: h.serve(holder, "q", max_queries=1), "q": lambda: (q.query([key]), q.close())})
    assert out["h"] == 1
    return next(frame for sender, to, frame in hub.sent if sender == "q")


def test_holder_view_is_independent_of_the_key():
    """For any two keys x, y and blinding r there is a blinding r' giving byte-identical frames."""
    r = rbcl.crypto_core_ristretto255_scalar_random()
    x, y = b"alice-account", b"bob-account"
    r_prime = rbcl.crypto_core_ristretto255_scalar_mul(
        r, rbcl.crypto_core_ristretto255_scalar_mul(_log(x), rbcl.crypto_core_ristretto255_scalar_invert(_log(y))))
    assert _holder_view("alice-account", r) == _holder_view("bob-account", r_prime)
    assert _holder_view("alice-account", r) != _holder_view("alice-account", r_prime)


def test_invalid_query_point_is_refused():
    hub = MemoryHub()
    q = Session(hub.transport("q"), "task-1", 5)
    q.send("h", "lookup.query", 2, {"points": bytes(32)})  # the identity
    with pytest.raises(InvalidPoint):
        lookup.LookupHolder(["a"]).serve(Session(hub.transport("h"), "task-1", 5), "q")
    hub = MemoryHub()
    q = Session(hub.transport("q"), "task-1", 5)
    q.send("h", "lookup.query", 2, {"points": b"\xff" * 32})
    with pytest.raises(InvalidPoint):
        lookup.LookupHolder(["a"]).serve(Session(hub.transport("h"), "task-1", 5), "q")


def test_query_limit_is_enforced():
    holder = lookup.LookupHolder(["a"])

    def querier(s):
        q = lookup.LookupQuerier(s, "h")
        q.receive_table()
        q.query(["a", "b"])
        q.query(["c"])

    out = run({"h": lambda s: _serve(holder, s, max_queries=2), "q": querier}, timeout=0.3, return_exceptions=True)
    assert isinstance(out["h"], ProtocolError) and "exceeded its 2 lookups" in str(out["h"])


def test_tampered_payload_is_detected():
    holder = lookup.LookupHolder({"a": b"secret reason"})
    holder.precompute()
    assert holder.table is not None
    tag = next(iter(holder.table.entries))
    holder.table.entries[tag] = bytes(len(holder.table.entries[tag]))

    def querier(s):
        q = lookup.LookupQuerier(s, "h")
        q.receive_table()
        return q.query(["a"])

    out = run({"h": lambda s: _serve(holder, s), "q": querier}, timeout=0.3, return_exceptions=True)
    assert isinstance(out["q"], ProtocolError) and "tampered" in str(out["q"])


def test_empty_list_and_endless_empty_batches():
    holder = lookup.LookupHolder([])

    def querier(s):
        q = lookup.LookupQuerier(s, "h")
        n = q.receive_table()
        r = q.query(["a"])
        q.close()
        return n, r["a"].found

    assert run({"h": lambda s: _serve(holder, s), "q": querier})["q"] == (0, False)
    hub = MemoryHub()
    h = Session(hub.transport("h"), "task-1", 5)
    h.send("q", "lookup.table", 1, {"n": 5, "k": 0, "tags": b"", "cts": []})
    with pytest.raises(ProtocolError, match="without tags"):
        lookup.LookupQuerier(Session(hub.transport("q"), "task-1", 5), "h").receive_table()
