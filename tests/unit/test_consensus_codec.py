"""Consensus messages have one encoding each, nested ones included (found by the consensus fuzzer)."""

from __future__ import annotations

import pytest

from consensus.pbft.messages import NewView, PreparedCert, ViewChange, decode_message, encode_message
from consensus.raft.messages import RequestVote
from consensus.raft.messages import decode_message as raft_decode
from consensus.raft.messages import encode_message as raft_encode
from node.errors import DecodeError
from node.wire import codec
from node.wire.types import Vote

ME = b"k" * 32
SIG = b"s" * 64


def _new_view() -> NewView:
    vc = ViewChange(2, 1, (PreparedCert(0, b"block", (Vote(ME, SIG),)),), ME, SIG)
    return NewView(2, 1, (vc,), ME, SIG)


def test_a_view_change_inside_a_new_view_must_carry_its_own_tag():
    """A NEW-VIEW whose nested view change said ``t: "viewchcnge"`` decoded and re-encoded with
    ``"viewchange"``: two encodings of one message. The tag is now checked like every other field."""
    good = encode_message(_new_view())
    assert encode_message(decode_message(good)) == good
    m = codec.decode(good)
    m["vcs"][0]["t"] = "viewchcnge"
    with pytest.raises(DecodeError, match="must be 'viewchange'"):
        decode_message(codec.encode(m))


@pytest.mark.parametrize("tag", ["r_vote", "", "r_vote_reqx"])
def test_a_raft_message_tag_is_exact(tag):
    m = codec.decode(raft_encode(RequestVote(3, 1, 1, ME, SIG)))
    assert raft_decode(codec.encode(m)).term == 3
    m["t"] = tag
    with pytest.raises(DecodeError):
        raft_decode(codec.encode(m))
