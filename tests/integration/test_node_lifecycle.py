"""A new organisation's node through its whole life on a real 4 + 1 network (PBFT, and Raft), by CLI only: made
with ``net add-node``, refused until admitted by vote, admitted as an observer (it catches up),
promoted by vote (a later certificate carries its signature), removed by vote (its links are
closed and refused). Every node agrees on every block throughout.

The operator's actions are CLI commands; the test observes the nodes over JSON-RPC.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from node.devnet import free_port_block
from node.sdk.client import RpcClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NOT_LISTED = "not in the on-chain node list"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def ok(*args: str) -> str:
    r = cli(*args)
    assert r.returncode == 0, f"consortia {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


async def rpc(url: str, method: str, *params: Any) -> Any:
    async with RpcClient(url, timeout=5.0) as client:
        return await client.call(method, *params)


async def eventually(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.5)


def vote_through(net: Path, members: list[Path], kind: str, payload: dict[str, Any]) -> int:
    """Propose with the first member's key and vote yes with the next two: 3 of 4 equal weights
    pass the default rates."""
    out = ok("gov", "propose", "--net", str(net), "--key", str(members[0]), "--type", kind, "--args", json.dumps(payload),
             "--reason", f"lifecycle test: {kind}")
    proposal = int(out.strip().splitlines()[-1])
    for key in members[1:3]:
        ok("gov", "vote", "--net", str(net), "--key", str(key), str(proposal), "--yes")
    shown = json.loads(ok("gov", "show", "--net", str(net), str(proposal)))
    assert shown["status"] == "executed", shown
    return proposal


def refusals(home: Path) -> int:
    return (home / "node.log").read_text(errors="replace").count(NOT_LISTED)


@pytest.mark.parametrize("engine", ["pbft", "raft"])
def test_a_node_is_admitted_promoted_and_removed_by_vote(tmp_path, engine):
    asyncio.run(_lifecycle(tmp_path, engine))


async def _lifecycle(tmp_path: Path, engine: str) -> None:
    net = tmp_path / "net"
    base = free_port_block(6)  # four validators, the regulator's observer, and the newcomer
    ok("net", "init", str(net), "--validators", "4", "--observers", "1", "--suite", "std", "--consensus", engine,
       "--base-port", str(base))
    network = json.loads((net / "network.json").read_text())
    members = [net / e["admin_key"] for e in network["nodes"] if e["role"] == "validator"]
    urls = {e["name"]: e["rpc_url"] for e in network["nodes"]}
    try:
        ok("net", "up", str(net), "--timeout", "90")

        # 1. The new organisation's node: written without touching anything, then started.
        out = ok("net", "add-node", str(net), "--name", "org5")
        pubkey = re.search(r"node public key\s+(0x[0-9a-f]+)", out).group(1)
        admit = json.loads(re.search(r"--type admit_observer --args '([^']+)'", out).group(1))
        assert admit["pubkey"] == pubkey and admit["p2p_port"] == base + 51
        urls["org5"] = f"http://127.0.0.1:{base + 50}"
        ok("net", "up", str(net), "--timeout", "60")  # starts org5 only; the others are running
        # Refused until admitted: no links, nothing synced. A peer with a larger key than org5's
        # is dialled by it and logs the refusal.
        await asyncio.sleep(3)
        assert await rpc(urls["org5"], "node_peers") == []
        assert (await rpc(urls["org5"], "node_info"))["height"] == 0
        assert (await rpc(urls["org5"], "node_info"))["role"] == "unlisted"
        dialled = [e["name"] for e in network["nodes"] if bytes.fromhex(_key_of(net, e["name"])[2:]) > bytes.fromhex(pubkey[2:])]
        if dialled:
            await eventually("a peer refuses org5", lambda: _true(sum(refusals(net / n) for n in dialled) > 0), 30)

        # 2. Admitted as an observer by vote: it connects and catches up.
        vote_through(net, members, "admit_observer", admit)

        async def caught_up() -> bool:
            mine = (await rpc(urls["org5"], "node_info"))["height"]
            return mine >= (await rpc(urls["validator-0"], "node_info"))["height"] - 1 and mine > 0
        await eventually("org5 catches up as an observer", caught_up, 90)
        status = await rpc(urls["org5"], "node_info")
        assert status["role"] == "observer" and pubkey not in status["validators"]

        # 3. Promoted by vote: from the next height it is a validator and signs certificates.
        vote_through(net, members, "promote_validator", {"pubkey": pubkey})
        promoted_at = (await rpc(urls["validator-0"], "node_info"))["height"]
        assert pubkey in (await rpc(urls["validator-0"], "node_info"))["validators"]

        async def signed_by_org5() -> bool:
            for url in urls.values():
                top = (await rpc(url, "node_info"))["height"]
                for h in range(max(promoted_at, top - 8), top + 1):
                    cert = await rpc(url, "chain_getCertificate", h)
                    if cert is not None and any(v["validator"] == pubkey for v in cert["votes"]):
                        return True
            return False
        await eventually("a commit certificate carries org5's signature", signed_by_org5, 90)
        status = await rpc(urls["org5"], "node_info")
        assert status["role"] == "validator" and status["engine"]["engine"] == engine and status["engine"]["validators"] == 5
        assert re.search(r"^org5\s+validator\s", ok("net", "status", str(net)), flags=re.MULTILINE)
        # Killed at any moment, it restarts as the validator the chain says it is and catches up.
        os.kill(int((net / "org5" / "node.pid").read_text()), signal.SIGKILL)
        await eventually("org5 is down", lambda: _down(urls["org5"]), 30)
        ok("net", "up", str(net), "--timeout", "60")
        await eventually("org5 catches up after its restart", caught_up, 90)
        assert (await rpc(urls["org5"], "node_info"))["role"] == "validator"

        # 4. Removed by vote: links closed at once and refused from then on; its signature no
        # longer counts, and the others go on committing.
        before = {name: refusals(net / name) for name in dialled}
        vote_through(net, members, "remove_node", {"pubkey": pubkey})
        removed_at = (await rpc(urls["validator-0"], "node_info"))["height"]

        async def cut_off() -> bool:
            for name, url in urls.items():
                if name != "org5" and any(p["pubkey"] == pubkey for p in await rpc(url, "node_peers")):
                    return False
            return True
        await eventually("every node has closed its link to org5", cut_off, 30)
        if dialled:
            await eventually("org5's reconnection is refused",
                             lambda: _true(any(refusals(net / n) > before[n] for n in dialled)), 30)
        await eventually("the network commits on without org5",
                         lambda: _height_at_least(urls["validator-0"], removed_at + 3), 60)
        del urls["org5"]
        for h in range(removed_at + 1, removed_at + 4):
            cert = await rpc(urls["validator-0"], "chain_getCertificate", h)
            assert pubkey not in {v["validator"] for v in cert["votes"]}

        # 5. Every node agrees on every block it has (org5 up to where it was cut off).
        await _agree(list(urls.values()) + [f"http://127.0.0.1:{base + 50}"])
        for entry in json.loads((net / "network.json").read_text())["nodes"]:
            log = (net / entry["home"] / "node.log").read_text(errors="replace")
            assert "Traceback" not in log, f"{entry['name']} logged a traceback:\n{log[-3000:]}"
    finally:
        down = cli("net", "down", str(net))
    assert down.returncode == 0, down.stderr


def _key_of(net: Path, name: str) -> str:
    return json.loads((net / name / "node.key").read_text())["public_key"]


async def _true(value: bool) -> bool:
    return value


async def _down(url: str) -> bool:
    try:
        await rpc(url, "node_info")
    except Exception:
        return True
    return False


async def _height_at_least(url: str, height: int) -> bool:
    return (await rpc(url, "node_info"))["height"] >= height


async def _agree(urls: list[str]) -> None:
    heights = {url: (await rpc(url, "node_info"))["height"] for url in urls}
    top = max(heights.values())
    for h in range(1, top + 1):
        hashes = set()
        for url, height in heights.items():
            if h <= height:
                hashes.add((await rpc(url, "chain_getBlockByNumber", h))["hash"])
        assert len(hashes) == 1, f"nodes disagree at height {h}: {hashes}"
