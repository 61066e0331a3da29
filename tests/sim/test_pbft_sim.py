"""PBFT on the deterministic simulated network: safety always, liveness once the network heals."""

from __future__ import annotations

import pytest

from consensus.certificate import verify_certificate
from node.testing.simnet import (
    BAD_SIGNATURES,
    EQUIVOCATE,
    INVALID_PROPOSALS,
    SILENT,
    LinkFaults,
    SimNetwork,
)

SEEDS = range(12)


def make(tmp_path, seed, **kw) -> SimNetwork:
    return SimNetwork(tmp_path / f"s{seed}", seed=seed, **kw)


def assert_safe(net: SimNetwork) -> None:
    assert net.conflicts == [], f"two different blocks committed at one height: {net.conflicts[:3]}"
    # Every honest node's chain is a prefix of every other's, block for block.
    for a in net.honest():
        for b in net.honest():
            for h in set(a.committed) & set(b.committed):
                assert a.committed[h] == b.committed[h]


def assert_certified(net: SimNetwork) -> None:
    for node in net.honest():
        if not node.up:
            continue
        chain = node.chain
        for h in range(1, chain.height + 1):
            cert = chain.store.get_certificate(h)
            verify_certificate(chain.suite, cert, chain_id=chain.chain_id, height=h,
                               block_hash=chain.store.get_block_hash(h), validators=chain.validators())


@pytest.mark.parametrize("seed", SEEDS)
def test_lossy_network_commits_and_agrees(tmp_path, seed):
    net = make(tmp_path, seed, faults=LinkFaults(drop=0.1, duplicate=0.1, min_delay_ms=1, max_delay_ms=120))
    try:
        net.submit(20)
        assert net.run_until(lambda: net.min_honest_height() >= 8, 300_000), net.heights()
        net.submit(10)
        assert net.run_until(lambda: net.min_honest_height() >= 12, 300_000), net.heights()
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_crashed_primary_is_replaced_and_restart_catches_up(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3, 60_000)
        victim = net.rng.randrange(4)
        net.crash(victim)
        others = [n for n in net.nodes if n.index != victim]
        start = max(n.chain.height for n in others)
        net.submit(10)
        assert net.run_until(lambda: min(n.chain.height for n in others) >= start + 8, 300_000), net.heights()
        net.restart(victim)
        target = max(n.chain.height for n in others)
        assert net.run_until(lambda: net.nodes[victim].chain.height >= target, 120_000), net.heights()
        assert_safe(net)
        heads = {n.chain.store.get_block_hash(target) for n in net.nodes}
        assert len(heads) == 1
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_two_two_partition_commits_nothing_then_heals(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 2, 60_000)
        net.run_for(300)  # let in-flight rounds settle
        net.partition({0, 1}, {2, 3})
        net.run_for(2_000)
        frozen = net.heights()
        net.submit(5)
        net.run_for(20_000)
        # At most the round already in flight may finish; after that, no quorum anywhere.
        assert all(h - f <= 1 for h, f in zip(net.heights(), frozen)), (frozen, net.heights())
        stalled = net.heights()
        net.run_for(20_000)
        assert net.heights() == stalled
        net.heal()
        assert net.run_until(lambda: net.min_honest_height() >= max(stalled) + 5, 600_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("behaviour", [SILENT, BAD_SIGNATURES, EQUIVOCATE, INVALID_PROPOSALS])
def test_one_byzantine_validator_cannot_break_safety_or_liveness(tmp_path, seed, behaviour):
    bad = seed % 4
    net = make(tmp_path, seed, behaviours={bad: behaviour}, faults=LinkFaults(drop=0.02, min_delay_ms=1, max_delay_ms=60))
    try:
        net.submit(10)
        assert net.run_until(lambda: net.min_honest_height() >= 10, 600_000), net.heights()
        assert_safe(net)
        assert_certified(net)
        honest = net.honest()
        if behaviour == BAD_SIGNATURES:
            assert all(n.core.dropped["bad_signature"] > 0 for n in honest)
        if behaviour == EQUIVOCATE:
            assert sum(n.core.view_changes_total for n in honest) > 0 or all(
                n.core.dropped["equivocation"] == 0 for n in honest)
    finally:
        net.close()


def test_wiped_node_rebuilds_from_peers(tmp_path):
    net = make(tmp_path, 99)
    try:
        net.submit(10)
        assert net.run_until(lambda: net.min_honest_height() >= 6, 60_000)
        net.wipe(2)
        net.run_for(3_000)
        net.restart(2)
        target = max(net.heights())
        assert net.run_until(lambda: net.nodes[2].chain.height >= target, 60_000), net.heights()
        assert_safe(net)
    finally:
        net.close()


def test_same_seed_same_history(tmp_path):
    runs = []
    for i in range(2):
        net = SimNetwork(tmp_path / f"r{i}", seed=7, faults=LinkFaults(drop=0.1, max_delay_ms=80))
        net.submit(5)
        net.run_until(lambda: net.min_honest_height() >= 6, 120_000)
        runs.append((net.time_ms, dict(net.decided)))
        net.close()
    assert runs[0] == runs[1]


def test_sm_suite_network(tmp_path):
    net = make(tmp_path, 3, suite="sm")
    try:
        net.submit(5)
        assert net.run_until(lambda: net.min_honest_height() >= 5, 60_000)
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


# --- pipelining: several heights in flight under a steady stream of transactions ----------------

PIPELINE_SEEDS = range(10)


def _in_flight_seen(net: SimNetwork) -> int:
    return max(n.core.max_in_flight for n in net.nodes if n.core is not None)


@pytest.mark.parametrize("seed", PIPELINE_SEEDS)
def test_pipelined_heights_on_a_lossy_network(tmp_path, seed):
    net = make(tmp_path, seed, faults=LinkFaults(drop=0.05, duplicate=0.05, min_delay_ms=5, max_delay_ms=60))
    try:
        stop = net.steady_load(every_ms=15, count=2)
        assert net.run_until(lambda: net.min_honest_height() >= 40, 300_000), net.heights()
        stop()
        assert _in_flight_seen(net) >= 3  # the window was really used
        assert net.run_until(lambda: len(set(net.heights())) == 1 and all(len(n.chain.pool) == 0 for n in net.nodes), 120_000), net.heights()
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", range(4))
def test_the_pipeline_threshold_waits_for_the_block_in_flight_until_enough_transactions_wait(tmp_path, seed):
    """With ``pbft_pipeline_min_txs`` 30, under a light stream the primary never has a second block
    in flight (each block commits at the primary before it proposes the next, so blocks are larger
    and fewer); a burst well over the threshold, with blocks of at most 20, is pipelined again.
    (A follower may still see two: the primary's next block can reach it before the commits that
    decide the one below.)"""
    net = make(tmp_path, seed, params={"pbft_pipeline_min_txs": 30, "block_tx_limit": 20},
               faults=LinkFaults(min_delay_ms=5, max_delay_ms=40))
    primary = net.by_key[net.nodes[0].core.primary(0)]
    running = [True]

    def light() -> None:  # 2 transactions every 15 ms: far fewer than 30 arrive while a block is in flight
        if running[0]:
            net.submit(2, pad_bytes=1)
            net.schedule(15, light)

    try:
        net.schedule(15, light)
        assert net.run_until(lambda: net.min_honest_height() >= 25, 300_000), net.heights()
        running[0] = False
        assert net.run_until(lambda: all(len(n.chain.pool) == 0 for n in net.nodes), 120_000), net.heights()
        assert all(n.core.view == 0 for n in net.nodes)
        assert primary.core.max_in_flight == 1
        chain = net.nodes[0].chain
        with_txs = [len(chain.store.get_block(h).txs) for h in range(1, chain.height + 1)]
        assert sum(with_txs) / sum(1 for n in with_txs if n) > 2  # more than one tick's transactions per block
        net.submit(200, pad_bytes=1)
        assert net.run_until(lambda: primary.core.max_in_flight >= 3, 60_000)
        assert net.run_until(lambda: len(set(net.heights())) == 1 and all(len(n.chain.pool) == 0 for n in net.nodes), 120_000), net.heights()
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", PIPELINE_SEEDS)
def test_primary_crash_with_blocks_in_flight(tmp_path, seed):
    net = make(tmp_path, seed, faults=LinkFaults(drop=0.02, min_delay_ms=5, max_delay_ms=60))
    try:
        stop = net.steady_load(every_ms=15, count=2)
        assert net.run_until(lambda: net.min_honest_height() >= 10, 120_000), net.heights()
        # Crash the primary at a moment when it has several uncommitted proposals out.
        primary = net.by_key[net.nodes[0].core.primary(net.nodes[0].core.view)]
        net.run_until(lambda: len(primary.core.in_flight()) >= 2, 10_000)
        net.run_for(net.rng.randint(0, 40))
        net.crash(primary.index)
        others = [n for n in net.nodes if n.index != primary.index]
        start = max(n.chain.height for n in others)
        assert net.run_until(lambda: min(n.chain.height for n in others) >= start + 15, 300_000), net.heights()
        assert sum(n.core.view_changes_total for n in others) > 0
        net.restart(primary.index)
        stop()
        assert net.run_until(lambda: len(set(net.heights())) == 1 and all(len(n.chain.pool) == 0 for n in net.nodes), 300_000), net.heights()
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


def test_new_views_carry_prepared_blocks_forward(tmp_path):
    """Across seeds, primaries crash while blocks are prepared but not committed (one more
    validator is cut off for a while, so the prepared blocks cannot gather commits): some
    NEW-VIEW must re-propose several prepared heights, and still nothing conflicts."""
    carried = 0
    for seed in range(8):
        net = make(tmp_path, 100 + seed, faults=LinkFaults(min_delay_ms=20, max_delay_ms=40))
        try:
            stop = net.steady_load(every_ms=10, count=2)
            for _ in range(3):
                primary = net.by_key[net.nodes[0].core.primary(net.nodes[0].core.view)] if net.nodes[0].up else net.nodes[1]
                net.run_until(lambda: primary.core is not None and len(primary.core.in_flight()) >= 3, 20_000)
                net.run_for(net.rng.randint(20, 60))
                net.crash(primary.index)
                cut_off = net.rng.choice([n.index for n in net.nodes if n.up])
                net.partition({cut_off}, {n.index for n in net.nodes if n.index != cut_off})
                net.run_for(net.rng.randint(50, 1_500))
                net.heal()
                live = [n for n in net.nodes if n.up]
                start = max(n.chain.height for n in live)
                assert net.run_until(lambda: min(n.chain.height for n in live) >= start + 5, 300_000), net.heights()
                net.restart(primary.index)
            stop()
            assert net.run_until(lambda: len(set(net.heights())) == 1, 300_000), net.heights()
            assert_safe(net)
            carried += sum(n.core.carried_total for n in net.nodes if n.core is not None)
        finally:
            net.close()
    assert carried > 0, carried


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("behaviour", [EQUIVOCATE, INVALID_PROPOSALS, SILENT])
def test_byzantine_primary_under_steady_load(tmp_path, seed, behaviour):
    bad = seed % 4
    net = make(tmp_path, seed, behaviours={bad: behaviour}, faults=LinkFaults(drop=0.02, min_delay_ms=5, max_delay_ms=60))
    try:
        stop = net.steady_load(every_ms=15, count=2)
        assert net.run_until(lambda: net.min_honest_height() >= 30, 600_000), net.heights()
        stop()
        assert_safe(net)
        assert_certified(net)
    finally:
        net.close()


@pytest.mark.parametrize("seed", range(6))
def test_partition_under_steady_load_then_heal(tmp_path, seed):
    net = make(tmp_path, seed)
    try:
        stop = net.steady_load(every_ms=15, count=2)
        assert net.run_until(lambda: net.min_honest_height() >= 10, 120_000)
        net.partition({0, 1}, {2, 3})
        net.run_for(2_000)
        stalled = net.heights()
        net.run_for(20_000)
        assert net.heights() == stalled
        net.heal()
        assert net.run_until(lambda: net.min_honest_height() >= max(stalled) + 10, 600_000), net.heights()
        stop()
        assert_safe(net)
    finally:
        net.close()
