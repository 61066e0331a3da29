"""More than f Byzantine validators on the simulated network: two colluders of four fork the
chain, and every honest node notices, halts and names them (node.forkwatch).

The colluders (the primary of view 0 and the next validator in key order) show one honest
validator each real block and the other an empty twin, and vote for both: each honest node sees
a quorum for what it was shown and commits it. No protocol can prevent that; what must happen
is that each honest node then detects two certificates for one height, stops taking part, and
names exactly the two colluders as double signers.
"""

from __future__ import annotations

import logging

import pytest

from node.forkwatch import load_evidence
from node.testing.simnet import COLLUDE, SimNetwork

SEEDS = range(4)
SETTLE = 2  # the colluders behave up to this height


def make(tmp_path, seed, **kw) -> SimNetwork:
    return SimNetwork(tmp_path / f"s{seed}", seed=seed, colluders=2, after_height=SETTLE, status_ticker=True, **kw)


def colluder_keys(net: SimNetwork) -> set[bytes]:
    return {n.key.public_bytes for n in net.nodes if n.behaviour == COLLUDE}


def all_halted(net: SimNetwork) -> bool:
    return all(n.fork_events for n in net.honest())


@pytest.mark.parametrize("seed", SEEDS)
def test_two_colluders_fork_the_chain_and_every_honest_node_halts_naming_them(tmp_path, seed, caplog):
    caplog.set_level(logging.INFO, logger="consortia.fork")
    net = make(tmp_path, seed)
    try:
        net.submit(5)
        assert net.run_until(lambda: all_halted(net), 60_000), (net.heights(), net.conflicts)
        # The attack worked: two honest nodes committed different blocks at one height...
        assert net.conflicts, net.decided
        honest = net.honest()
        first = min(h for h, _, _ in net.conflicts)
        assert len({n.committed[first] for n in honest}) == 2  # the two honest nodes, one block each
        # ...and each of them found out, once, and blames exactly the colluders.
        for node in honest:
            assert len(node.fork_events) == 1, node.name
            evidence = node.fork_events[0].evidence
            assert set(evidence.double_signers) == colluder_keys(net), node.name
            assert evidence.ours.block_hash != evidence.theirs.block_hash
            assert evidence.committed  # each committed one side of the fork itself
            assert node.committed[evidence.height] == evidence.ours.block_hash
            assert load_evidence(node.chain.store) == evidence  # kept in the database
        lines = [r.getMessage() for r in caplog.records if "event=fork_detected" in r.getMessage()]
        assert len(lines) >= len(honest), lines  # (the colluders' own fork watches see it too)
        names = {n.name for n in net.nodes if n.behaviour == COLLUDE}
        assert all(set(line.split("double_signers=")[1].split()[0].split(",")) == names for line in lines), (names, lines)
        # Halted: no vote, no block applied, whatever the colluders or the load do next.
        heads = {n.name: n.chain.height for n in honest}
        net.submit(5)
        net.run_for(20_000)
        assert {n.name: n.chain.height for n in honest} == heads
        assert all(n.committed_after_fork == [] for n in honest)
        assert all(n.core.state.stopped for n in honest)
    finally:
        net.close()


def test_a_halted_node_stays_halted_after_a_restart(tmp_path):
    net = make(tmp_path, 7)
    try:
        net.submit(5)
        assert net.run_until(lambda: all_halted(net), 60_000), net.heights()
        node = net.honest()[0]
        before = node.fork_events[0].evidence
        net.crash(node.index)
        net.restart(node.index)
        assert node.forks is not None and node.forks.halted and node.forks.evidence == before
        assert node.core.state.stopped  # the engine was never started
        assert node.fork_events[-1].restored
        height = node.chain.height
        net.submit(5)
        net.run_for(10_000)
        assert node.chain.height == height
    finally:
        net.close()


def test_without_fork_detection_the_fork_goes_unnoticed(tmp_path):
    """The same attack with the fork watch switched off: what the tests above would miss."""
    net = make(tmp_path, 0, fork_detection=False)
    try:
        net.submit(5)
        net.run_for(30_000)
        assert net.conflicts
        assert not any(n.fork_events for n in net.honest())
    finally:
        net.close()
