"""PBFT keeps no more blocks in memory than are still in play when views change at a stuck height."""

from __future__ import annotations

from node.testing.simnet import SimNetwork
from tests.sim.test_pbft_sim import assert_safe


def test_a_new_view_forgets_the_proposals_of_earlier_views(tmp_path):
    net = SimNetwork(tmp_path, seed=5)
    try:
        net.submit(10)
        assert net.run_until(lambda: net.min_honest_height() >= 3, 60_000), net.heights()
        node = net.nodes[1]
        core = node.core
        state = core.state
        h = state.height
        slot = state.slot(h)
        old_view = state.view
        # What earlier views left at this height: their accepted proposals and the blocks behind them.
        stale = {bytes([i]) * 32: object() for i in range(5)}
        slot.blocks.update(stale)  # type: ignore[arg-type]
        for i, block_hash in enumerate(stale):
            slot.accepted[old_view - 1 - i] = (b"", block_hash)
            slot.prepares[(old_view - 1 - i, block_hash)][b"v"] = object()  # type: ignore[index]
        voted = bytes([9]) * 32
        slot.blocks[voted] = object()  # type: ignore[assignment]
        slot.commits[(old_view - 1, voted)][b"v"] = object()  # type: ignore[index]
        state.view = old_view + 1
        core.ordering.forget_old_views()
        assert not set(stale) & set(slot.blocks), "blocks of earlier views are still held"
        assert all(v >= state.view for v in slot.accepted) and all(k[0] >= state.view for k in slot.prepares)
        assert voted in slot.blocks  # it has COMMIT votes: it may be decided elsewhere
        state.view = old_view  # (only this node was moved; the network goes on as before)
        del slot.blocks[voted], slot.commits[(old_view - 1, voted)]
        net.submit(10)
        assert net.run_until(lambda: net.min_honest_height() >= 6, 120_000), net.heights()
        assert_safe(net)
    finally:
        net.close()

