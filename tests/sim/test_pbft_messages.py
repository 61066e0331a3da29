"""Forged, foreign, replayed, out-of-window and wrong-view consensus messages are dropped and counted."""

from __future__ import annotations

from dataclasses import replace

from consensus.pbft.core import FUTURE_WINDOW
from consensus.pbft.messages import Commit, Prepare, decode_message, encode_message, sign_message
from consensus.testing.simnet import SimNetwork
from node.errors import DecodeError

import pytest


def test_bad_messages_are_dropped_and_counted(tmp_path):
    net = SimNetwork(tmp_path, seed=5)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3, 60_000)
        target = net.nodes[0]
        core = target.core
        chain_id = net.genesis.chain_id
        sender = net.nodes[1]
        h = core.height
        good = sign_message(net.suite, sender.key.private_bytes, chain_id, Prepare(h, 0, b"\x01" * 32, sender.key.public_bytes))
        stranger = net.suite.generate_keypair()
        cases = {
            "bad_signature": replace(good, signature=bytes(64)),
            "non_validator": sign_message(net.suite, stranger.private_bytes, chain_id, Prepare(h, 0, b"\x01" * 32, stranger.public_bytes)),
            "out_of_window": sign_message(net.suite, sender.key.private_bytes, chain_id,
                                          Prepare(h + FUTURE_WINDOW + 1, 0, b"\x01" * 32, sender.key.public_bytes)),
            "stale": sign_message(net.suite, sender.key.private_bytes, chain_id, Commit(1, 0, b"\x01" * 32, sender.key.public_bytes)),
            "wrong_view": sign_message(net.suite, sender.key.private_bytes, chain_id, Prepare(h, 1000, b"\x01" * 32, sender.key.public_bytes)),
        }
        for reason, msg in cases.items():
            before = core.dropped[reason]
            core.on_message(decode_message(encode_message(msg)))
            assert core.dropped[reason] == before + 1, reason
        # A message signed for another chain does not verify here either.
        other_chain = sign_message(net.suite, sender.key.private_bytes, "elsewhere", Prepare(h, 0, b"\x01" * 32, sender.key.public_bytes))
        before = core.dropped["bad_signature"]
        core.on_message(other_chain)
        assert core.dropped["bad_signature"] == before + 1
        # The network carries on.
        assert net.run_until(lambda: net.min_honest_height() >= 6, 60_000)
    finally:
        net.close()


@pytest.mark.parametrize("raw", [b"", b"\x80", b"\x81\xa1t\xa4nope", b"\x81\xa1t\xa7prepare"])
def test_malformed_messages_do_not_decode(raw):
    with pytest.raises(DecodeError):
        decode_message(raw)
