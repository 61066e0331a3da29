"""The business contracts on a running 4-validator network, through the CLI only.

The five-step rights flow with a credential check, pay-per-use settlement, a quota overrun, a
task through all phases with its evidence points, an escrow release and an escrow refund, and
every node answering the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.config import load_key
from node.crypto import get_suite
from node.devnet import free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SUITE = "sm"
PEOPLE = ("hospital", "bank", "issuer", "regulator", "provider")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


class Net:
    def __init__(self, root: Path, keys: dict[str, Path]) -> None:
        self.root, self.keys = root, keys

    def run(self, *args: str, who: str | None = None) -> dict | list:
        extra = ["--net", str(self.root)] + (["--key", str(self.keys[who])] if who else [])
        r = cli(*args, *extra)
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return json.loads(r.stdout)

    def refused(self, *args: str, who: str, message: str) -> None:
        r = cli(*args, "--net", str(self.root), "--key", str(self.keys[who]))
        assert r.returncode == 1, f"{args} should have been refused: {r.stdout}"
        assert message in r.stderr and "Traceback" not in r.stderr, r.stderr


def _address(path: Path) -> str:
    return "0x" + get_suite(SUITE).address(load_key(path).public_bytes).hex()


@pytest.fixture
def network(tmp_path: Path):
    root = tmp_path / "net"
    r = cli("net", "init", str(root), "--validators", "4", "--suite", SUITE, "--base-port", str(free_port_block(4)))
    assert r.returncode == 0, r.stderr
    keys = {"admin": root / "validator-0" / "admin.key"}
    for name in PEOPLE:
        keys[name] = tmp_path / f"{name}.key"
        assert cli("key", "new", "--suite", SUITE, "--out", str(keys[name])).returncode == 0
    roles = {"credential_issuer": [_address(keys["issuer"])], "regulator": [_address(keys["regulator"])],
             "algorithm_provider": [_address(keys["provider"])]}
    for genesis in root.rglob("genesis.json"):  # before the first start: every node gets the same roles
        data = json.loads(genesis.read_text())
        data["roles"] = roles
        genesis.write_text(json.dumps(data, indent=2))
    r = cli("net", "up", str(root), "--timeout", "90", "--contracts", "all", timeout=300)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        contracts = json.loads((root / "contracts.json").read_text())["contracts"]
        assert set(contracts) == {"evidence", "did", "catalog", "points", "task", "rights"}
        yield Net(root, keys), tmp_path
    finally:
        cli("net", "down", str(root))


def test_business_flows_on_four_validators(network):
    net, tmp = network
    bank, hospital = _address(net.keys["bank"]), _address(net.keys["hospital"])
    # 1. Register DIDs; the bank gets an organisation licence from a registered issuer.
    for name in ("hospital", "bank", "issuer"):
        net.run("did", "create", "--id", name, "--service", f"worker,PrivacyWorker,https://{name}.example/w", who=name)
    doc = net.run("did", "resolve", "--id", "bank")
    assert doc["didDocument"]["authentication"] == ["did:consortia:bank#key-1"]
    net.refused("did", "register-issuer", "--id", "bank", who="bank", message="credential_issuer role")
    net.run("did", "register-issuer", "--id", "issuer", "--name", "Licensing office", who="issuer")
    licence = tmp / "licence.pdf"
    licence.write_bytes(b"bank licence 2026")
    net.run("did", "issue", "--issuer", "issuer", "--subject", "bank", "--schema", "org-license", "--file", str(licence), who="issuer")
    assert net.run("did", "status", "--file", str(licence))["status"] == "valid"
    # Points: only the regulator mints.
    net.refused("points", "mint", "--to", bank, "--amount", "100", who="bank", message="only a regulator")
    net.run("points", "mint", "--to", bank, "--amount", "100", who="regulator")
    # 2. The hospital lists a dataset; the bank finds it.
    sample = tmp / "sample.csv"
    sample.write_text("patient,visits\nx,3\n")
    ds = net.run("catalog", "register", "--owner", "did:consortia:hospital", "--name", "Outpatient visits",
                 "--schema", "patient:string:32,visits:int", "--sample-file", str(sample), "--category", "health",
                 "--level", "3", "--share-mode", "compute", "--access", "https://hospital.example/ds/1",
                 "--credential-schema", "org-license", "--price", "5", who="hospital")["id"]
    found = net.run("catalog", "search", "--category", "health")
    assert [d["id"] for d in found["items"]] == [ds]
    net.run("catalog", "algo-register", "--id", "logreg", "--code-hash", "0x" + "11" * 32, "--compiler", "rustc 1.63", who="provider")
    # 3.-5. Apply, authorize, fetch twice (paid), and a quota overrun.
    head = json.loads(cli("chain", "info", "--net", str(net.root)).stdout)["height"]
    auth = net.run("catalog", "request", "--dataset", str(ds), "--requester", "did:consortia:bank", "--purpose", "credit model",
                   "--quota", "2", "--until-height", str(head + 10_000), "--algorithm", "logreg", who="bank")["id"]
    net.refused("catalog", "approve", "--auth", str(auth), who="bank", message="does not control the active DID did:consortia:hospital")
    assert net.run("catalog", "approve", "--auth", str(auth), who="hospital")["status"] == "approved"
    first = net.run("catalog", "fetch", "--auth", str(auth), "--algorithm", "logreg", who="bank")
    assert first["access"] == "https://hospital.example/ds/1" and first["remaining"] == 1
    net.run("catalog", "fetch", "--auth", str(auth), who="bank")
    net.refused("catalog", "fetch", "--auth", str(auth), who="bank", message="quota exceeded")
    assert net.run("points", "balance", "--account", bank)["balance"] == 90
    assert net.run("points", "balance", "--account", hospital)["balance"] == 10
    assert net.run("catalog", "uses", "--auth", str(auth))["total"] == 2
    # A task through all phases with its evidence points.
    t_auth = net.run("catalog", "request", "--dataset", str(ds), "--requester", "did:consortia:bank", "--purpose", "credit model",
                     "--quota", "1", "--task", "t1", "--algorithm", "logreg", who="bank")["id"]
    net.run("catalog", "approve", "--auth", str(t_auth), who="hospital")
    net.run("task", "create", "--id", "t1", "--initiator", "did:consortia:bank", "--participant", "did:consortia:bank",
            "--participant", "did:consortia:hospital", "--receiver", "did:consortia:bank", "--auth", str(t_auth),
            "--algorithm", "logreg", "--purpose", "credit model", who="bank")
    for phase in ("prepare", "align", "compute", "cleanup"):
        for who in ("bank", "hospital"):
            out = tmp / f"{who}-{phase}.out"
            out.write_bytes(f"{who} {phase}".encode())
            net.run("task", "ack", "--id", "t1", "--participant", f"did:consortia:{who}", "--phase", phase, "--file", str(out), who=who)
    model = tmp / "model.bin"
    model.write_bytes(b"weights")
    net.refused("task", "receive", "--id", "t1", "--receiver", "did:consortia:hospital", "--file", str(model), who="hospital",
                message="not a named receiver")
    assert net.run("task", "receive", "--id", "t1", "--receiver", "did:consortia:bank", "--file", str(model), who="bank")["state"] == "succeeded"
    evidence = json.loads((net.root / "contracts.json").read_text())["contracts"]["evidence"]["address"]
    points = net.run("evidence", "points", "--contract", evidence, "--task", "t1")
    assert points["complete"] is True
    # Escrow: released on a matching receipt; refunded after the timeout.
    head = json.loads(cli("chain", "info", "--net", str(net.root)).stdout)["height"]
    e1 = net.run("points", "lock", "--payee", hospital, "--amount", "20", "--timeout-height", str(head + 1000), "--ref", "t1", who="bank")["id"]
    net.run("points", "deliver", "--id", str(e1), "--file", str(model), who="hospital")
    wrong = tmp / "wrong.bin"
    wrong.write_bytes(b"other")
    net.refused("points", "confirm", "--id", str(e1), "--file", str(wrong), who="bank", message="does not match the delivered hash")
    assert net.run("points", "confirm", "--id", str(e1), "--file", str(model), who="bank")["state"] == "released"
    head = json.loads(cli("chain", "info", "--net", str(net.root)).stdout)["height"]
    e2 = net.run("points", "lock", "--payee", hospital, "--amount", "15", "--timeout-height", str(head + 20), who="bank")["id"]
    net.refused("points", "refund", "--id", str(e2), who="bank", message="only after height")
    deadline = time.monotonic() + 120
    while json.loads(cli("chain", "info", "--net", str(net.root)).stdout)["height"] <= head + 20 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert net.run("points", "refund", "--id", str(e2), "--reason", "no result", who="bank")["state"] == "refunded"
    assert net.run("points", "balance", "--account", bank)["balance"] == 90 - 5 - 20  # the task's use cost 5, escrow 20
    assert net.run("points", "balance", "--account", hospital)["balance"] == 10 + 5 + 20
    # A data-rights certificate sold for points, with its profit share.
    regulator = _address(net.keys["regulator"])
    net.run("rights", "template", "--id", "usage", "--name", "Usage right", "--type", "usage", who="regulator")
    cert = net.run("rights", "issue", "--template", "usage", "--holder", "did:consortia:hospital", "--source", f"dataset {ds}",
                   "--scope", "credit scoring", "--profit-share-bp", "2000", "--beneficiary", regulator, who="regulator")["id"]
    net.run("rights", "sell", "--cert", str(cert), "--price", "10", who="hospital")
    assert net.run("rights", "buy", "--cert", str(cert), "--buyer", "did:consortia:bank", who="bank")["holder"] == "did:consortia:bank"
    assert net.run("points", "balance", "--account", regulator)["balance"] == 2
    assert [e["action"] for e in net.run("rights", "history", "--cert", str(cert))["items"]] == ["issued", "listed", "sold"]
    # Every node returns the same state.
    nodes = json.loads((net.root / "network.json").read_text())["nodes"]
    queries = [("catalog", "auth", "--auth", str(auth)), ("points", "balance", "--account", bank), ("task", "show", "--id", "t1"),
               ("did", "resolve", "--id", "bank"), ("points", "escrow", "--id", str(e2)), ("rights", "history", "--cert", "1")]
    target = json.loads(cli("chain", "info", "--net", str(net.root)).stdout)["height"]
    for node in nodes:  # wait until every node has the blocks the first one had
        deadline = time.monotonic() + 60
        while json.loads(cli("chain", "info", "--rpc", node["rpc_url"]).stdout)["height"] < target:
            assert time.monotonic() < deadline, f"{node['name']} does not catch up"
            time.sleep(0.5)
    for q in queries:
        answers = []
        for node in nodes:
            r = cli(*q, "--rpc", node["rpc_url"], "--contract", _contract_of(net.root, q[0]))
            assert r.returncode == 0, r.stderr
            answers.append(json.loads(r.stdout))
        assert all(a == answers[0] for a in answers), q


def _contract_of(root: Path, command: str) -> str:
    return json.loads((root / "contracts.json").read_text())["contracts"][command]["address"]
