"""Forged, foreign, replayed, out-of-window and wrong-view consensus messages are dropped and counted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.pbft.messages import Commit, Prepare, decode_message, encode_message, sign_message
from consensus.pbft.state import FUTURE_WINDOW
from node.errors import DecodeError
from node.testing.simnet import SimNetwork


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


def _signed(net, node, msg):
    return sign_message(net.suite, node.key.private_bytes, net.genesis.chain_id, msg)


def test_view_change_limits_and_forged_prepared_certificates(tmp_path):
    from consensus.pbft.messages import MAX_PREPARED_CERTS, PreparedCert, ViewChange
    from node.wire import codec
    from node.wire.types import Vote

    net = SimNetwork(tmp_path, seed=11)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        core = net.nodes[0].core
        sender = net.nodes[1]
        block = net.nodes[1].chain.store.get_block(1).encode()
        # Too many certificates do not even decode.
        fake = PreparedCert(view=0, block=block, votes=(Vote(sender.key.public_bytes, b"\x01" * 64),))
        too_many = ViewChange(core.height, core.view + 1, (fake,) * (MAX_PREPARED_CERTS + 1), sender.key.public_bytes, b"\x01" * 64)
        with pytest.raises(DecodeError):
            decode_message(codec.encode(too_many.to_map()))
        # A validly signed view change whose prepared certificate is forged is dropped, not counted.
        forged = _signed(net, sender, ViewChange(core.height, core.view + 1, (fake,), sender.key.public_bytes))
        before = core.dropped["invalid"]
        core.on_message(decode_message(encode_message(forged)))
        assert core.dropped["invalid"] == before + 1
        assert sender.key.public_bytes not in core.view_changes.get(core.view + 1, {})
        assert net.run_until(lambda: net.min_honest_height() >= 5, 60_000)
    finally:
        net.close()


def test_new_view_without_a_quorum_or_from_the_wrong_primary_is_refused(tmp_path):
    from consensus.pbft.messages import NewView, ViewChange

    net = SimNetwork(tmp_path, seed=12)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        target = net.nodes[0]
        core = target.core
        view = core.view + 1
        primary = net.by_key[core.primary(view)]
        other = next(n for n in net.nodes if n is not primary and n is not target)
        vcs = tuple(_signed(net, n, ViewChange(core.height, view, (), n.key.public_bytes)) for n in (primary, other))
        short = _signed(net, primary, NewView(core.height, view, vcs, primary.key.public_bytes))
        before = core.dropped["invalid"]
        core.on_message(decode_message(encode_message(short)))  # 2 view changes, 3 needed
        assert core.dropped["invalid"] == before + 1 and core.view == view - 1
        third = next(n for n in net.nodes if n not in (primary, other))
        full = vcs + (_signed(net, third, ViewChange(core.height, view, (), third.key.public_bytes)),)
        impostor = _signed(net, other, NewView(core.height, view, full, other.key.public_bytes))
        before = core.dropped["not_primary"]
        core.on_message(decode_message(encode_message(impostor)))
        assert core.dropped["not_primary"] == before + 1 and core.view == view - 1
        # Duplicated view changes from one validator count once.
        padded = _signed(net, primary, NewView(core.height, view, vcs + (vcs[0],), primary.key.public_bytes))
        before = core.dropped["invalid"]
        core.on_message(decode_message(encode_message(padded)))
        assert core.dropped["invalid"] == before + 1 and core.view == view - 1
        assert net.run_until(lambda: net.min_honest_height() >= 5, 60_000)
    finally:
        net.close()


def test_a_restarted_validator_keeps_its_promises(tmp_path):
    """What a validator signed survives a crash: after restarting it will not prepare another block
    at a (height, view) where its journal says it prepared one, nor vote in a view it asked to leave."""
    from consensus.pbft.journal import VoteJournal

    net = SimNetwork(tmp_path, seed=21)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3, 60_000)
        victim = next(n for n in net.nodes if n.core.primary(n.core.view) != n.key.public_bytes)
        net.crash(victim.index)
        net.run_for(2_000)
        # Pretend it had prepared some other block at the next height before the crash.
        from node.store.chainstore import ChainStore

        live = next(n for n in net.nodes if n.up)
        next_height, view = live.chain.height + 1, live.core.view
        store = ChainStore(victim.home / "data")
        journal = VoteJournal(store)
        for h in range(next_height, next_height + 20):
            journal.record("prepare", h, view, b"\x42" * 32)
        store.close()
        net.restart(victim.index)
        net.submit(3)
        assert net.run_until(lambda: victim.core.dropped["conflicts_with_journal"] >= 1, 30_000)
        assert net.run_until(lambda: net.min_honest_height() >= next_height + 3, 60_000), net.heights()
        assert net.conflicts == []
        # A journal that says we left view v puts a restarted validator back into its view change.
        net.crash(victim.index)
        store = ChainStore(victim.home / "data")
        journal = VoteJournal(store)
        journal.record_view_change(view + 5)
        store.close()
        net.restart(victim.index)
        assert victim.core.vc_target >= view + 5
    finally:
        net.close()


def test_a_second_vote_for_another_block_is_equivocation_and_is_not_kept(tmp_path):
    """A validator that votes for many blocks at one (height, view) -- to different peers, or a
    flood of votes for random hashes -- has its first vote counted and the rest dropped as
    equivocation: it cannot make an honest node hold one entry per forged hash."""
    import hashlib

    net = SimNetwork(tmp_path, seed=8)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        core = net.nodes[0].core
        sender = net.nodes[1]
        h = core.height + 1  # inside the window, above anything decided while we look
        for kind in (Prepare, Commit):
            before = core.dropped["equivocation"]
            for i in range(200):
                vote = kind(h, core.view, hashlib.sha256(b"%d" % i).digest(), sender.key.public_bytes)
                core.on_message(decode_message(encode_message(sign_message(net.suite, sender.key.private_bytes,
                                                                           net.genesis.chain_id, vote))))
            slot = core.state.slots[h]
            kept = slot.prepares if kind is Prepare else slot.commits
            mine = [key for key, senders in kept.items() if sender.key.public_bytes in senders and key[0] == core.view]
            assert len(mine) == 1, len(mine)
            assert core.dropped["equivocation"] == before + 199
    finally:
        net.close()
