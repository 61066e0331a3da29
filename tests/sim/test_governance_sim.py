"""Parameter changes by governance on the simulated network: every validator executes each
proposal in the same block, and the new value governs blocks from the next height on all of them
(PBFT with several heights in flight, and Raft)."""

from __future__ import annotations

import pytest

from node.testing.simnet import LinkFaults, SimNetwork
from node.wire import codec
from tests.sim.test_pbft_sim import assert_safe


def param_changes(chain, up_to: int) -> list[tuple[int, int, int]]:
    """(height, effective_height, value) of every block_tx_limit change committed up to ``up_to``."""
    out = []
    for height in range(1, up_to + 1):
        for receipt in chain.store.receipts_at(height):
            for event in receipt.events:
                if event.name == "ParamChanged":
                    data = codec.decode(event.data)
                    out.append((height, data["effective_height"], data["value"]))
    return out


@pytest.mark.parametrize(("engine", "seed"), [("pbft", 1), ("pbft", 2), ("raft", 3)])
def test_every_node_applies_each_change_at_the_same_height(tmp_path, engine, seed):
    net = SimNetwork(tmp_path / f"{engine}{seed}", seed=seed, engine=engine, params={"pbft_window": 4},
                     faults=LinkFaults(min_delay_ms=1, max_delay_ms=40))
    try:
        net.submit(12, param="block_tx_limit")  # set_param proposals the one-member committee passes at once
        assert net.run_until(lambda: net.min_honest_height() >= 12 and all(len(n.chain.pool) == 0 for n in net.honest()),
                             300_000), net.heights()
        assert_safe(net)
        top = net.min_honest_height()
        changes = [param_changes(n.chain, top) for n in net.honest()]
        assert changes[0] and all(c == changes[0] for c in changes)
        assert all(effective == height + 1 for height, effective, _ in changes[0])
        last = changes[0][-1][2]
        assert all(n.chain.params().block_tx_limit == last for n in net.honest())
    finally:
        net.close()
