"""Raft on the deterministic simulated network: one leader per term, no conflicting commits,
progress with a majority, failover after a leader crash, and persisted term/vote/log."""

from __future__ import annotations

import pytest

from node.testing.simnet import LinkFaults, SimNetwork
from tests.sim.test_pbft_sim import assert_certified, assert_safe

SEEDS = range(10)


def make(tmp_path, seed, **kw) -> SimNetwork:
    return SimNetwork(tmp_path / f"r{seed}", seed=seed, engine="raft", **kw)


def leaders(net: SimNetwork) -> list[int]:
    return [n.index for n in net.nodes if n.up and n.core.role == "leader"]


@pytest.mark.parametrize("seed", SEEDS)
def test_lossy_network_commits_and_agrees(tmp_path, seed):
    net = make(tmp_path, seed, faults=LinkFaults(drop=0.1, duplicate=0.1, min_delay_ms=1, max_delay_ms=120))
    try:
        net.submit(20)
        assert net.run_until(lambda: net.min_honest_height() >= 10, 300_000), net.heights()
        assert_safe(net)
        assert_certified(net)
        terms = {}
        for n in net.nodes:  # at most one leader per term
            if n.core.role == "leader":
                assert terms.setdefault(n.core.term, n.index) == n.index
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_crash_failover_and_restart(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3 and leaders(net), 60_000)
        old = leaders(net)[0]
        old_term = net.nodes[old].core.term
        net.crash(old)
        others = [n for n in net.nodes if n.index != old]
        start = max(n.chain.height for n in others)
        net.submit(5)
        assert net.run_until(lambda: min(n.chain.height for n in others) >= start + 5, 120_000), net.heights()
        new = leaders(net)
        assert new and new[0] != old and net.nodes[new[0]].core.term > old_term
        net.restart(old)
        assert net.nodes[old].core.term >= old_term  # persisted across the restart
        target = max(n.chain.height for n in others)
        assert net.run_until(lambda: net.nodes[old].chain.height >= target, 60_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_no_majority_no_commits_then_heal(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        net.partition({0, 1}, {2, 3})
        net.run_for(3_000)
        frozen = net.heights()
        net.submit(3)
        net.run_for(20_000)
        assert net.heights() == frozen
        net.heal()
        assert net.run_until(lambda: net.min_honest_height() >= max(frozen) + 3, 120_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_minority_partition_cannot_commit_majority_can(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        lonely = seed % 4
        net.partition({lonely}, {i for i in range(4) if i != lonely})
        net.run_for(1_000)
        stuck = net.nodes[lonely].chain.height
        majority = [n for n in net.nodes if n.index != lonely]
        start = max(n.chain.height for n in majority)
        net.submit(3)
        assert net.run_until(lambda: min(n.chain.height for n in majority) >= start + 3, 120_000), net.heights()
        assert net.nodes[lonely].chain.height <= stuck + 1
        net.heal()
        assert net.run_until(lambda: net.nodes[lonely].chain.height >= start + 3, 120_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


def test_wiped_follower_rebuilds(tmp_path):
    net = make(tmp_path, 42)
    try:
        net.submit(5)
        assert net.run_until(lambda: net.min_honest_height() >= 5, 60_000)
        victim = next(n.index for n in net.nodes if n.core.role != "leader")
        net.wipe(victim)
        net.run_for(2_000)
        net.restart(victim)
        target = max(net.heights())
        assert net.run_until(lambda: net.nodes[victim].chain.height >= target, 60_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_validators_returning_from_isolation_do_not_depose_the_leader(tmp_path, seed):
    """Two of four cut off for 10 s (no majority anywhere meanwhile). When they return, the
    leader keeps its term and commits resume within a heartbeat or two, instead of an election
    forced by terms the isolated ones ran up while alone (PreVote)."""
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3 and leaders(net), 60_000)
        leader = leaders(net)[0]
        term = net.nodes[leader].core.term
        mate = next(i for i in range(4) if i != leader)
        isolated = [i for i in range(4) if i not in (leader, mate)]
        net.partition({leader, mate}, {isolated[0]}, {isolated[1]})
        net.submit(3)
        net.run_for(10_000)
        assert all(net.nodes[i].core.term == term for i in isolated)  # pre-votes failed: no term was run up
        frozen = max(net.heights())
        net.heal()
        healed_at = net.time_ms
        assert net.run_until(lambda: net.min_honest_height() >= frozen + 1, 60_000), net.heights()
        timeout = net.genesis.params["consensus_timeout_ms"]
        assert net.time_ms - healed_at < timeout, (net.time_ms - healed_at, timeout)
        assert leaders(net) == [leader] and net.nodes[leader].core.term == term
        assert_safe(net)
    finally:
        net.close()
