"""More than f validators silent on the simulated network: nothing can commit, and the honest
validators say so precisely (``engine.liveness``: who was heard from, against the quorum), once
when the stall starts and once when it ends; commits resume when one silent validator comes back
as a normal node (restarted with its database, and with the view changes it had only made up
its mind about while silent)."""

from __future__ import annotations

import logging

import pytest

from node.testing.simnet import HONEST, SILENT, SimNetwork

SEEDS = range(4)


@pytest.mark.parametrize("seed", SEEDS)
def test_two_silent_validators_stall_the_chain_and_one_returning_resumes_it(tmp_path, seed, caplog):
    caplog.set_level(logging.INFO, logger="consortia.pbft")
    net = SimNetwork(tmp_path / f"s{seed}", seed=seed)
    try:
        assert net.run_until(lambda: net.min_honest_height() >= 3, 60_000)
        quiet = net.rng.sample(range(4), 2)
        for i in quiet:
            net.nodes[i].behaviour = SILENT
        honest = net.honest()
        net.submit(5)
        window = honest[0].core.liveness.window_ms()
        net.run_for(window + 5_000)
        heads = [n.chain.height for n in honest]
        net.run_for(10_000)
        assert [n.chain.height for n in honest] == heads  # no quorum, no commit
        silent_keys = {"0x" + net.nodes[i].key.public_bytes.hex() for i in quiet}
        for node in honest:
            report = node.core.status()["liveness"]
            assert report["stalled_since_ms"] is not None, report
            assert (report["heard_from"], report["quorum"], report["validators"]) == (2, 3, 4), report
            assert set(report["silent"]) == silent_keys
        stalled = [r.getMessage() for r in caplog.records if "event=consensus_stalled" in r.getMessage()]
        assert len(stalled) == len(honest), stalled  # once per node, not once per timeout
        assert all("heard_from=2 quorum=3 validators=4" in line for line in stalled)

        back = quiet[0]
        net.nodes[back].behaviour = HONEST
        net.crash(back)
        net.restart(back)
        net.submit(5)
        assert net.run_until(lambda: min(n.chain.height for n in net.honest()) >= max(heads) + 3, 300_000), net.heights()
        net.run_for(2 * window)
        for node in honest:
            report = node.core.status()["liveness"]
            assert report["stalled_since_ms"] is None and report["heard_from"] == 3, report
        resumed = [r.getMessage() for r in caplog.records if "event=consensus_resumed" in r.getMessage()]
        assert len(resumed) >= len(honest), resumed
        assert net.conflicts == []
    finally:
        net.close()
