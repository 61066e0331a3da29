"""A validator whose disk fills up stops cleanly, and catches up once space is freed.

Its data directory is a small tmpfs mounted by the test (skipped where mounting is not allowed).
Expected: one clear line and exit status 1, no traceback, the other three keep committing, and
after the volume grows the node restarts from its last whole block and catches up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest

from node.devnet import make_local_net
from node.sdk import Account, RpcClient
from tests.integration.test_consensus_network import PARAMS, SYSCONFIG, heights, wait_height

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _mount(where, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): needs root")


async def test_a_full_disk_stops_the_node_cleanly_and_it_catches_up_after(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    victim = net.nodes[3]
    data = victim.home / "data"
    _mount(data, "1m")
    try:
        net.start()
        await net.wait_ready(60)
        assert await wait_height(net, range(4), 2, 60)
        async with RpcClient(net.nodes[0].url, timeout=30) as c:
            acct = await Account.connect(c, net.admins[0])
            deadline = time.monotonic() + 90
            i = 0
            while victim.proc is not None and victim.proc.poll() is None and time.monotonic() < deadline:
                args = {"key": "block_tx_limit", "pad": os.urandom(60_000)}  # bytes to fill the disk with
                await acct.send(SYSCONFIG, "get", args, fuel_limit=5_000_000, wait=False)
                i += 1
                await asyncio.sleep(0.02)
        assert victim.proc is not None
        assert victim.proc.wait(30) == 1
        log = victim.log_path.read_text(errors="replace")
        assert "Traceback" not in log and "Task exception" not in log, log[-3000:]
        assert log.count("event=node_failed") == 1, log[-3000:]
        assert "No space left on device" in log and "error: the node stopped:" in log
        # The others go on without it.
        before = max(await heights(net, [0, 1, 2]))
        assert await wait_height(net, [0, 1, 2], before + 3, 60)
        # Space freed: the node restarts from its last whole block and catches up.
        subprocess.run(["mount", "-o", "remount,size=256m", str(data)], check=True)
        victim.start()
        await victim.wait_ready(30)
        target = max(await heights(net, [0, 1, 2]))
        assert await wait_height(net, [3], target, 90), await heights(net, range(4))
    finally:
        net.stop()
        subprocess.run(["umount", "-l", str(data)], capture_output=True)
