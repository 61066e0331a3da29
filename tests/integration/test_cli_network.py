"""The operator path end to end: net init, net up, tx send, tx receipt --proof, net status, net down."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet import free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
COMMITTEE = "0x0000000000000000000000000000000000004000"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("suite", ["sm", "std"])
def test_operator_flow(tmp_path, suite):
    net = tmp_path / "net"
    port = free_port_block(1)
    r = cli("net", "init", str(net), "--validators", "1", "--observers", "0", "--suite", suite, "--consensus", "pbft",
            "--base-port", str(port))
    assert r.returncode == 0, r.stderr
    r = cli("net", "up", str(net), "--timeout", "60")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"http://127.0.0.1:{port}" in r.stdout
        r = cli("tx", "send", "--net", str(net), "--key", str(net / "validator-0" / "admin.key"), "--to", COMMITTEE,
                "--method", "propose", "--args", json.dumps({"type": "set_param", "payload": {"key": "block_interval_ms", "value": 400}}))
        assert r.returncode == 0, r.stderr
        tx_hash = re.search(r"0x[0-9a-f]{64}", r.stdout).group(0)
        r = cli("tx", "receipt", "--net", str(net), tx_hash, "--proof")
        assert r.returncode == 0, r.stderr
        assert "proof: verified" in r.stdout
        r = cli("chain", "info", "--net", str(net))
        assert r.returncode == 0 and json.loads(r.stdout)["params"]["block_interval_ms"] == 400
        r = cli("net", "status", str(net))
        assert r.returncode == 0 and "validator-0" in r.stdout
        # A second `net up` must not start a second process on the same database.
        r = cli("net", "up", str(net), "--timeout", "30")
        assert r.returncode == 0, r.stderr
    finally:
        down = cli("net", "down", str(net))
    assert down.returncode == 0, down.stderr


def test_node_run_errors_are_one_line(tmp_path):
    r = cli("node", "run", "--home", str(tmp_path / "missing"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:")


def test_second_node_on_same_home_is_refused(tmp_path):
    net = tmp_path / "net"
    assert cli("net", "init", str(net), "--validators", "1", "--base-port", str(free_port_block(1))).returncode == 0
    assert cli("net", "up", str(net), "--timeout", "60").returncode == 0
    try:
        r = cli("node", "run", "--home", str(net / "validator-0"), timeout=60)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [r.stderr.strip()]
        assert "locked by another process" in r.stderr
    finally:
        cli("net", "down", str(net))


def test_four_validators_and_an_observer_agree(tmp_path):
    net = tmp_path / "net"
    assert cli("net", "init", str(net), "--validators", "4", "--observers", "1", "--suite", "sm",
               "--base-port", str(free_port_block(5))).returncode == 0
    r = cli("net", "up", str(net), "--timeout", "90")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("started") == 5
        sent = cli("tx", "send", "--net", str(net), "--key", str(net / "validator-0" / "admin.key"), "--to", COMMITTEE,
                   "--method", "propose", "--args", json.dumps({"type": "set_param", "payload": {"key": "block_tx_limit", "value": 4321}}))
        assert sent.returncode == 0, sent.stderr
        tx_hash = re.search(r"0x[0-9a-f]{64}", sent.stdout).group(0)
        nodes = json.loads((net / "network.json").read_text())["nodes"]
        observer = next(n for n in nodes if n["role"] == "observer")
        deadline = __import__("time").monotonic() + 30
        while True:  # the observer follows without voting and can prove the receipt itself
            r = cli("tx", "receipt", "--rpc", observer["rpc_url"], tx_hash, "--proof")
            if r.returncode == 0 or __import__("time").monotonic() > deadline:
                break
        assert r.returncode == 0, r.stderr
        assert "proof: verified" in r.stdout and "4 validator(s)" in r.stdout
        _contract_flow(net, nodes, tmp_path)
    finally:
        cli("net", "down", str(net))


def _contract_flow(net: Path, nodes: list[dict], tmp_path: Path) -> None:
    """Deploy the evidence contract with the CLI, record and read evidence, and check every node runs the same code."""
    key = str(net / "validator-0" / "admin.key")
    r = cli("contract", "deploy", "--net", str(net), "--key", key, "--wasm", str(REPO / "contracts_wasm/dist/evidence.wasm"))
    assert r.returncode == 0, r.stdout + r.stderr
    deployed = json.loads(r.stdout)
    address = deployed["address"]
    document = tmp_path / "contract.pdf"
    document.write_bytes(b"%PDF- data-sharing agreement between bank A and telecom B")
    r = cli("evidence", "record", "--net", str(net), "--key", key, "--contract", address, "--file", str(document),
            "--kind", "task_config", "--task", "task-1", "--meta", json.dumps({"name": "contract.pdf"}))
    assert r.returncode == 0, r.stdout + r.stderr
    digest = json.loads(r.stdout)["hash"]
    again = cli("evidence", "record", "--net", str(net), "--key", key, "--contract", address, "--hash", digest, "--kind", "x")
    assert again.returncode == 1 and "already recorded" in again.stderr and "Traceback" not in again.stderr
    r = cli("contract", "call", "--net", str(net), "--key", key, "--to", address, "--method", "record",
            "--args", json.dumps({"hash": "0x" + "ab" * 32, "kind": "data_input", "task_id": "task-1"}))
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["events"][0]["name"] == "EvidenceRecorded"
    deadline = __import__("time").monotonic() + 30
    for node in nodes:  # every node, observer included, serves the same code and the same records
        while True:
            info = cli("contract", "info", "--rpc", node["rpc_url"], address)
            got = cli("evidence", "get", "--rpc", node["rpc_url"], "--contract", address, "--file", str(document))
            if (info.returncode == 0 and got.returncode == 0) or __import__("time").monotonic() > deadline:
                break
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["code_hash"] == deployed["code_hash"]
        assert got.returncode == 0 and json.loads(got.stdout)["task_id"] == "task-1"
    r = cli("evidence", "points", "--net", str(net), "--contract", address, "--task", "task-1")
    points = json.loads(r.stdout)
    assert points["points"]["task_config"] == digest and points["points"]["data_input"] == "0x" + "ab" * 32
    assert points["complete"] is False
    r = cli("contract", "query", "--net", str(net), "--to", address, "--method", "count")
    assert r.returncode == 0 and json.loads(r.stdout) == 2


def test_net_init_force_makes_every_key_file_0600_again(tmp_path):
    import os
    import stat

    net = tmp_path / "net"
    args = ("net", "init", str(net), "--validators", "1", "--base-port", str(free_port_block(1)))
    assert cli(*args).returncode == 0
    keys = [net / "validator-0" / "admin.key", net / "ca" / "ca.key", net / "validator-0" / "node.key", net / "validator-0" / "tls" / "node.key"]
    for path in keys:
        os.chmod(path, 0o644)
    r = cli(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in keys} == {str(p): "0o600" for p in keys}


@pytest.mark.parametrize("key", ["node.key", "tls/node.key"])
def test_a_node_whose_key_others_can_read_refuses_to_start(tmp_path, key):
    import os

    net = tmp_path / "net"
    assert cli("net", "init", str(net), "--validators", "1", "--base-port", str(free_port_block(1))).returncode == 0
    path = net / "validator-0" / key
    os.chmod(path, 0o644)
    r = cli("node", "run", "--home", str(net / "validator-0"), timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert str(path.resolve()) in r.stderr or str(path) in r.stderr
    assert "chmod 600" in r.stderr
    assert not (net / "validator-0" / "data").exists()  # refused before anything was opened


@pytest.mark.parametrize("soft, hard, expect", [
    (1024, 8192, "ok      open files: the node will run with a soft limit of 8192, raised from 1024 at start (hard limit 8192"),
    (1024, 1024, "warning open files: the node will run with a soft limit of 1024 (hard limit 1024"),
])
def test_node_check_reports_the_open_file_limit_the_node_will_have(tmp_path, soft, hard, expect):
    import resource

    net = tmp_path / "net"
    assert cli("net", "init", str(net), "--validators", "1", "--base-port", str(free_port_block(1))).returncode == 0
    r = subprocess.run([sys.executable, "-m", "node.cli.main", "node", "check", "--home", str(net / "validator-0")], cwd=REPO,
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert expect in r.stdout, r.stdout
    assert "ok      key file" in r.stdout and "p2p limits: handshake_timeout=5.0s" in r.stdout
    (net / "validator-0" / "tls" / "node.key").chmod(0o640)
    r = cli("node", "check", "--home", str(net / "validator-0"))
    assert r.returncode == 1 and "error   TLS key file" in r.stdout and "chmod 600" in r.stdout
