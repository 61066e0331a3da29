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
