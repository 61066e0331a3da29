"""An organisation prepares its node from the genesis file alone (node init, ca sign, node
install-cert), and once a vote admits it, it links up and catches up: CLI only, real processes."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.devnet import free_port_block
from node.sdk.client import RpcClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def ok(*args: str) -> str:
    r = cli(*args)
    assert r.returncode == 0, f"consortia {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


async def info(url: str) -> dict:
    async with RpcClient(url, timeout=5.0) as client:
        return await client.node_info()


async def test_a_node_prepared_elsewhere_joins_after_its_admission(tmp_path):
    net, remote = tmp_path / "net", tmp_path / "bank-e-host"
    base = free_port_block(5)
    ok("net", "init", str(net), "--validators", "4", "--suite", "sm", "--base-port", str(base))
    network = json.loads((net / "network.json").read_text())
    members = [str(net / e["admin_key"]) for e in network["nodes"] if e["role"] == "validator"]
    # The new host has only the genesis file: it never sees another node's files or the CA key.
    remote.mkdir()
    (remote / "genesis.json").write_bytes((net / "genesis.json").read_bytes())
    home = remote / "bank-e"
    out = ok("node", "init", "--home", str(home), "--genesis", str(remote / "genesis.json"), "--name", "bank-e",
             "--p2p-port", str(base + 41), "--rpc-port", str(base + 40))
    admission = re.search(r"--type admit_observer --args '([^']+)'", out).group(1)
    # The CA holder signs the request; the certificate and ca.crt travel back.
    ok("ca", "sign", "--ca", str(net / "ca"), "--csr", str(home / "tls" / "node.csr"), "--out", str(remote / "bank-e.crt"))
    (remote / "ca.crt").write_bytes((net / "ca" / "ca.crt").read_bytes())
    ok("node", "install-cert", "--home", str(home), "--cert", str(remote / "bank-e.crt"), "--ca-cert", str(remote / "ca.crt"))

    ok("net", "up", str(net), "--timeout", "90")
    log = open(home / "node.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "node.cli.main", "node", "run", "--home", str(home)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{base + 40}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                mine = await info(url)
                break
            except Exception:
                assert time.monotonic() < deadline and proc.poll() is None, (home / "node.log").read_text()[-2000:]
                await asyncio.sleep(0.5)
        assert mine["role"] == "unlisted" and mine["height"] == 0
        proposal = ok("gov", "propose", "--net", str(net), "--key", members[0], "--type", "admit_observer", "--args", admission,
                      "--reason", "bank-e joins").strip().splitlines()[-1]
        for key in members[1:3]:
            ok("gov", "vote", "--net", str(net), "--key", key, proposal, "--yes")
        assert json.loads(ok("gov", "show", "--net", str(net), proposal))["status"] == "executed"
        validator = network["nodes"][0]["rpc_url"]
        deadline = time.monotonic() + 120
        while True:
            mine, theirs = await info(url), await info(validator)
            if mine["role"] == "observer" and mine["height"] >= theirs["height"] - 1 > 0:
                break
            assert time.monotonic() < deadline, (mine, theirs)
            await asyncio.sleep(0.5)
        async with RpcClient(url) as a, RpcClient(validator) as b:
            h = mine["height"]
            assert (await a.get_block(h))["hash"] == (await b.get_block(h))["hash"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        cli("net", "down", str(net))
