"""Large transactions on the simulated network: blocks stay within max_block_bytes, and a backlog
of big transactions built up while two validators are cut off drains once they return."""

from __future__ import annotations

import pytest

from node.testing.simnet import SimNetwork
from tests.sim.test_pbft_sim import assert_certified, assert_safe

SMALL = {"max_block_bytes": 65_536, "max_tx_bytes": 60_000, "max_code_bytes": 50_000}


@pytest.mark.parametrize("seed", range(3))
def test_a_backlog_of_large_transactions_commits_in_blocks_within_the_limit(tmp_path, seed):
    net = SimNetwork(tmp_path / f"s{seed}", seed=seed, params=SMALL)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        net.partition({0, 1}, {2, 3})  # no quorum anywhere: the pools fill up
        sent = set(net.submit(40, pad_bytes=20_000))
        net.run_for(3_000)
        net.heal()
        done = lambda: all(n.chain is not None and all(n.chain.store.has_tx(h) for h in sent) for n in net.nodes)  # noqa: E731
        assert net.run_until(done, 300_000), net.heights()
        assert_safe(net)
        assert_certified(net)
        chain = net.nodes[0].chain
        assert chain is not None
        sizes = [sum(len(t.encode()) for t in chain.store.get_block(h).txs) for h in range(1, chain.height + 1)]
        assert max(sizes) <= SMALL["max_block_bytes"]
        assert sum(1 for s in sizes if s > 40_000) >= 5  # the backlog really went out in full blocks
    finally:
        net.close()
