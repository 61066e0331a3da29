"""The envelope codec and the Session's refusals: other task, other round, replays, spoofing, silence."""

from __future__ import annotations

import msgpack
import pytest

from workers.protocols.channel import MemoryHub, Session, run_parties
from workers.protocols.errors import MalformedMessage, PeerTimeout, UnexpectedMessage
from workers.protocols.messages import Envelope, decode, int_field, packed


def test_envelope_roundtrip():
    env = Envelope("task-1", 3, 7, "a", "b", "psi.set", {"k": 1, "points": b"\x01" * 32})
    assert decode(env.encode()) == env


@pytest.mark.parametrize("frame", [
    b"", b"\xc1", msgpack.packb([1, 2, 3]), msgpack.packb({"v": 1}),
    msgpack.packb({"v": 2, "task": "t", "round": 0, "seq": 0, "from": "a", "to": "b", "kind": "k", "body": {}}),
    msgpack.packb({"v": 1, "task": "t", "round": True, "seq": 0, "from": "a", "to": "b", "kind": "k", "body": {}}),
    msgpack.packb({"v": 1, "task": "t", "round": -1, "seq": 0, "from": "a", "to": "b", "kind": "k", "body": {}}),
    msgpack.packb({"v": 1, "task": "t", "round": 0, "seq": 0, "from": "a", "to": "b", "kind": "k", "body": {}, "x": 1}),
    msgpack.packb({"v": 1, "task": b"t", "round": 0, "seq": 0, "from": "a", "to": "b", "kind": "k", "body": {}}),
])
def test_malformed_frames_are_refused(frame):
    with pytest.raises(MalformedMessage):
        decode(frame)


def test_body_field_checks():
    assert int_field({"n": 5}, "n", 0, 10) == 5
    with pytest.raises(MalformedMessage):
        int_field({"n": 11}, "n", 0, 10)
    with pytest.raises(MalformedMessage):
        int_field({"n": True}, "n", 0, 10)
    with pytest.raises(MalformedMessage):
        packed({"p": b"x" * 33}, "p", 32)
    with pytest.raises(MalformedMessage):
        packed({"p": b"x" * 64}, "p", 32, count=1)


def _pair(task="t1", timeout=2.0):
    hub = MemoryHub()
    return hub, Session(hub.transport("a"), task, timeout), Session(hub.transport("b"), task, timeout)


def test_in_order_messages_pass():
    _, a, b = _pair()
    a.send("b", "x.one", 0, {"n": 1})
    a.send("b", "x.two", 1, {"n": 2})
    assert b.recv("a", "x.one", 0) == {"n": 1}
    assert b.recv("a", "x.two", 1) == {"n": 2}


def test_frame_from_another_task_is_refused():
    hub, a, b = _pair()
    other = Session(hub.transport("a"), "t0")
    hub.record = True
    other.send("b", "x.one", 0, {"n": 1})  # a genuine frame of task t0 lands in t1's queue
    with pytest.raises(UnexpectedMessage, match="task 't0'"):
        b.recv("a", "x.one", 0)


def test_replayed_frame_is_refused():
    hub, a, b = _pair()
    hub.record = True
    a.send("b", "x.one", 0, {"n": 1})
    assert b.recv("a", "x.one", 0) == {"n": 1}
    hub.inject("b", "a", hub.sent[0][2])
    with pytest.raises(UnexpectedMessage, match="seq 0"):
        b.recv("a", "x.one", 0)


def test_out_of_round_message_is_refused():
    _, a, b = _pair()
    a.send("b", "x.two", 1, {"n": 2})
    with pytest.raises(UnexpectedMessage, match="out of round order"):
        b.recv("a", "x.one", 0)


def test_frame_claiming_another_sender_is_refused():
    hub, a, b = _pair()
    forged = Envelope("t1", 0, 0, "c", "b", "x.one", {}).encode()
    hub.inject("b", "a", forged)  # authenticated as a, claims to be c
    with pytest.raises(UnexpectedMessage, match="claims"):
        b.recv("a", "x.one", 0)


def test_silent_peer_times_out_with_a_clear_error():
    _, _, b = _pair(timeout=0.2)
    with pytest.raises(PeerTimeout, match=r"'a' stopped answering: no 'x.one' \(round 0\) reached 'b'"):
        b.recv("a", "x.one", 0)


def test_run_parties_reports_each_outcome():
    out = run_parties({"ok": lambda: 1, "bad": lambda: 1 / 0}, return_exceptions=True)
    assert out["ok"] == 1 and isinstance(out["bad"], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        run_parties({"bad": lambda: 1 / 0})


def test_garbage_frame_names_the_sender_and_step():
    hub, _, b = _pair()
    hub.inject("b", "a", b"\x93\x01")
    with pytest.raises(MalformedMessage, match="frame from 'a' awaited as 'x.one' round 0"):
        b.recv("a", "x.one", 0)
