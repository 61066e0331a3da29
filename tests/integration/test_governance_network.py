"""Governance on a real 4-validator network, through the CLI only: a parameter change by vote is in
force on every node from the same height, and a vote after a proposal's expiry is refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.devnet import free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def ok(*args: str) -> str:
    r = cli(*args)
    assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
    return r.stdout


def until(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_block_tx_limit_changed_by_vote_holds_on_every_node_from_the_same_height(tmp_path):
    net = tmp_path / "net"
    ok("net", "init", str(net), "--validators", "4", "--suite", "std", "--base-port", str(free_port_block(4)))
    nodes = json.loads((net / "network.json").read_text())["nodes"]
    urls = [n["rpc_url"] for n in nodes]
    key = [str(net / f"validator-{i}" / "admin.key") for i in range(4)]
    r = cli("net", "up", str(net), "--timeout", "90")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        members = json.loads(ok("gov", "members", "--net", str(net)))
        assert [m["weight"] for m in members["members"]] == [1, 1, 1, 1] and members["participation_rate"] == 51

        # Blocks wait 1.5 s for transactions to gather (so the limit below binds): passed by three votes.
        seal = ok("gov", "propose", "--net", str(net), "--key", key[0], "--type", "set_param",
                  "--args", json.dumps({"key": "min_seal_ms", "value": 1500})).strip()
        for i in (1, 2):
            ok("gov", "vote", "--rpc", urls[i], "--key", key[i], seal, "--yes")

        pid = ok("gov", "propose", "--net", str(net), "--key", key[0], "--type", "set_param",
                 "--args", json.dumps({"key": "block_tx_limit", "value": 3}), "--reason", "integration test").strip()
        assert pid.isdigit()
        assert ok("gov", "vote", "--rpc", urls[1], "--key", key[1], pid, "--yes").strip() == "open"
        again = cli("gov", "vote", "--rpc", urls[1], "--key", key[1], pid, "--yes")
        assert again.returncode == 1 and "already voted yes" in again.stderr and "Traceback" not in again.stderr
        stranger = cli("gov", "vote", "--net", str(net), "--key", str(net / "validator-0" / "node.key"), pid, "--yes")
        assert stranger.returncode == 1 and "only committee members may vote" in stranger.stderr
        passing = cli("gov", "vote", "--rpc", urls[2], "--key", key[2], pid, "--yes")
        assert passing.returncode == 0 and passing.stdout.strip() == "executed", passing.stderr
        vote_tx = re.search(r"tx (0x[0-9a-f]{64})", passing.stderr).group(1)

        shown = json.loads(ok("gov", "show", "--net", str(net), pid))
        assert shown["status"] == "executed" and shown["tally"] == {"yes": 3, "no": 0, "total": 4}
        passed_at = shown["closed_height"]
        assert json.loads(ok("gov", "list", "--net", str(net), "--open"))["proposals"] == []
        for u in urls:  # every node executed the change in the same block, in force from the next
            receipt = json.loads(until(lambda u=u: cli("tx", "receipt", "--rpc", u, vote_tx).stdout, 30))
            changed = [e["data"] for e in receipt["events"] if e["name"] == "ParamChanged"]
            assert receipt["height"] == passed_at and changed == [{"effective_height": passed_at + 1, "key": "block_tx_limit",
                                                                  "value": 3}]

        # Twelve transactions at once; every node must cap blocks at 3 from passed_at + 1 on.
        senders = [subprocess.Popen([sys.executable, "-m", "node.cli.main", "tx", "send", "--rpc", urls[i % 4],
                                     "--key", key[3], "--to", "0x" + "00" * 18 + "1000", "--method", "list", "--no-wait"],
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(12)]
        hashes = []
        for proc in senders:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            hashes.append(re.search(r"0x[0-9a-f]{64}", out).group(0))
        heights = set()
        for h in hashes:
            receipt = until(lambda h=h: cli("tx", "receipt", "--rpc", urls[0], h).stdout, 90)
            assert receipt, f"{h} not committed"
            heights.add(json.loads(receipt)["height"])
        assert min(heights) > passed_at

        def heads() -> list[int]:
            return [json.loads(ok("chain", "info", "--rpc", u))["height"] for u in urls]

        assert until(lambda: min(heads()) >= max(heights), 60), heads()
        counts = []
        for height in sorted(heights | {passed_at}):
            blocks = [json.loads(ok("chain", "block", "--rpc", u, str(height))) for u in urls]
            assert len({b["hash"] for b in blocks}) == 1, f"nodes disagree on block {height}"
            if height > passed_at:
                counts.append(blocks[0]["header"]["tx_count"])
        assert sum(counts) == 12 and max(counts) == 3, counts  # all in, never more than the new limit
        for u in urls:
            assert json.loads(ok("chain", "info", "--rpc", u))["params"]["block_tx_limit"] == 3

        # A vote that arrives after the expiry height is refused.
        late = ok("gov", "propose", "--net", str(net), "--key", key[0], "--type", "grant_deploy",
                  "--args", json.dumps({"address": "0x" + "42" * 20}), "--expiry-blocks", "2").strip()
        expiry = json.loads(ok("gov", "show", "--net", str(net), late))["expiry_height"]
        assert until(lambda: min(heads()) >= expiry, 60)
        refused = cli("gov", "vote", "--rpc", urls[3], "--key", key[3], late, "--yes")
        assert refused.returncode == 1 and f"expired at height {expiry}" in refused.stderr, refused.stderr
        assert json.loads(ok("gov", "show", "--rpc", urls[3], late))["status"] == "expired"
        roles = json.loads(ok("gov", "roles", "--net", str(net), "0x" + "42" * 20))
        assert roles["can_deploy"] is False
    finally:
        cli("net", "down", str(net))
