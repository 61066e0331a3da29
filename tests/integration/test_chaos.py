"""The fault-injection runner, as CI runs it: a minute of kills, pauses and restarts on a real
4 + 1 network under load for each engine, then the checks of node/chaos.py (every committed
transaction on every node at one place, one head, valid certificates, no leftover processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from node.chaos import _leftover_processes, run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("consensus", ["pbft", "raft"])
async def test_a_minute_of_faults_under_load_leaves_one_consistent_chain(tmp_path, consensus):
    report = await run_chaos(seconds=60, suite="std", consensus=consensus, seed=20261202, rate=20, root=tmp_path)
    print(report.summary())
    assert report.ok, report.summary()
    assert sum(report.faults.values()) >= 10
    assert report.committed >= 200 and report.height > 20


def test_the_leftover_check_finds_a_process_started_for_the_run(tmp_path):
    env = {**os.environ, "CONSORTIA_CHAOS_RUN": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        assert proc.pid in _leftover_processes(tmp_path)
        assert proc.pid not in _leftover_processes(tmp_path / "another-run")
    finally:
        proc.kill()
        proc.wait()
