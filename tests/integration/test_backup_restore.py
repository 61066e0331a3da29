"""A stopped observer is backed up with the CLI, restored over a wiped database, and catches up from its peer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet import make_local_net
from node.sdk import RpcClient
from tests.integration.test_consensus_network import head_of, heights, wait_height

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


async def test_backup_restore_and_catch_up(tmp_path):
    net = make_local_net(tmp_path, "std", validators=1, observers=1, params={"block_interval_ms": 100})
    validator, observer = net.nodes
    net.start()
    try:
        await net.wait_ready(30)
        assert await wait_height(net, [0, 1], 5, 60)
        running = cli("node", "snapshot", "--home", str(observer.home), "--out", str(tmp_path / "obs.tar"))
        assert running.returncode != 0 and "locked by another process" in running.stderr, running
        observer.stop()
        made = cli("node", "snapshot", "--home", str(observer.home), "--out", str(tmp_path / "obs.tar"))
        assert made.returncode == 0, made.stderr
        info = cli("node", "backup-info", str(tmp_path / "obs.tar"))
        backed_up = int(info.stdout.split("height:")[1].split()[0])
        assert backed_up >= 5
        shutil.rmtree(observer.home / "data")
        (observer.home / "data").mkdir()
        (observer.home / "data" / "junk").write_text("x")  # a damaged leftover the restore replaces
        refused = cli("node", "restore", "--home", str(observer.home), "--from", str(tmp_path / "obs.tar"))
        assert refused.returncode != 0 and "--force" in refused.stderr
        restored = cli("node", "restore", "--home", str(observer.home), "--from", str(tmp_path / "obs.tar"), "--force")
        assert restored.returncode == 0, restored.stderr
        async with RpcClient(validator.url) as c:
            target = await c.block_number() + 5
        observer.start()
        await observer.wait_ready(30)
        assert await wait_height(net, [0, 1], target, 60), await heights(net, [0, 1])
        assert await head_of(validator.url, target) == await head_of(observer.url, target)
        assert await head_of(validator.url, backed_up) == await head_of(observer.url, backed_up)
    finally:
        net.stop()
