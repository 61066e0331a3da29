"""One Byzantine validator among four, as real processes on loopback (``node.testing.byzantine``).

PBFT with f = 1: whatever the Byzantine node sends -- two proposals or votes for one height and
view, invalid blocks, bad signatures, a flood of signed, undecodable and malformed frames -- the
three honest nodes keep committing, agree on every block hash and state root, every certificate
verifies vote by vote, and each honest node counted and logged what the Byzantine one did.
Raft (crash faults only) is checked for what it does claim: a sender whose signatures do not
verify, or who signs as someone else, is refused and cannot disturb the leader.

Two Byzantine of four (more than f) at the end: colluding, they make the two honest nodes commit
different blocks at one height, and each honest node detects the fork, halts and names them
(node.forkwatch); withholding, they stall the chain, the honest nodes report the stall with the
numbers, and commits resume once one of them is restarted as a normal node.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.crypto import get_suite
from node.devnet import LocalNet, make_local_net
from node.sdk import RpcClient
from node.testing.adversary import (
    BAD_SIGNATURE,
    COLLUDE,
    EQUIVOCATE,
    FLOOD,
    INVALID_PROPOSAL,
    INVALID_VARIANTS,
    OVERSIZED,
    WITHHOLD,
)
from node.testing.byzantine import start_byzantine
from node.wire.types import CommitCertificate
from tests.integration.test_consensus_network import Load, heights, wait_height

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Small size limits, so an oversized block is cheap to build and carry (code + 2 KiB <= tx <= block).
# A round timeout long enough that no view change happens while the four processes start and
# connect: the Byzantine node is the primary of view 0 and must still be when it starts to lie.
PARAMS = {"block_interval_ms": 200, "min_seal_ms": 10, "consensus_timeout_ms": 4000, "tx_expiry_window": 100_000,
          "max_code_bytes": 32 * 1024, "max_tx_bytes": 64 * 1024, "max_block_bytes": 128 * 1024}
PROGRESS = 8  # blocks the honest nodes must commit with the Byzantine one running
SETTLE = 3  # the proposing attacks begin above this height, once every link is up


@dataclass
class ByzantineNet:
    net: LocalNet
    bad: int
    honest: list[int]
    all_bad: tuple[int, ...] = ()  # with more than one Byzantine node: all of them

    def log(self, i: int) -> str:
        return self.net.nodes[i].log_path.read_text(errors="replace")

    async def engine(self, i: int) -> dict:
        async with RpcClient(self.net.nodes[i].url, timeout=5) as c:
            return (await c.node_info())["engine"]


@asynccontextmanager
async def byzantine_net(root: Path, behaviour: str, *, consensus: str = "pbft", variants: tuple[str, ...] = INVALID_VARIANTS,
                        after_height: int = 0) -> AsyncIterator[ByzantineNet]:
    """Four validators; the one with the smallest key (PBFT's primary of view 0) is Byzantine."""
    net = make_local_net(root, "std", validators=4, params=PARAMS, consensus=consensus)
    bad = min(range(4), key=lambda i: net.nodes[i].key.public_bytes)
    honest = [i for i in range(4) if i != bad]
    for i in honest:
        net.nodes[i].start()
    start_byzantine(net.nodes[bad], behaviour, variants, after_height)
    try:
        await net.wait_ready(60)
        b = ByzantineNet(net, bad, honest)
        if after_height:
            # Every node took part up to here, so every link is up; the liar must still lead.
            assert await wait_height(net, range(4), after_height, 60), await heights(net, range(4))
            # Block 1 in view 0: no view change at start-up (block `after_height` itself may already
            # be carried into a later view by the attack on the height above it, with pipelining).
            async with RpcClient(net.nodes[honest[0]].url) as c:
                cert = CommitCertificate.decode(bytes.fromhex((await c.call("chain_getCertificate", 1))["raw"][2:]))
            assert cert.view == 0, "a view change at start-up: the Byzantine node no longer leads"
        yield b
    finally:
        net.stop()


async def run_with_load(b: ByzantineNet, blocks: int = PROGRESS, timeout: float = 45) -> None:
    """Transactions to the honest nodes until each has committed ``blocks`` more blocks."""
    load = Load(b.net, b.honest)
    load.start()
    try:
        deadline = time.monotonic() + timeout
        while load.sent < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert load.sent >= 10, (load.sent, load.errors)
        start = max(await heights(b.net, b.honest))
        assert await wait_height(b.net, b.honest, start + blocks, timeout), await heights(b.net, range(4))
    finally:
        await load.stop()


async def assert_honest_agree(b: ByzantineNet) -> int:
    """Every height up to the lowest honest head: one block hash and state root on every honest
    node, and a certificate whose every vote verifies (so none carries a bad signature)."""
    top = min(await heights(b.net, b.honest))
    suite = get_suite(b.net.genesis.suite)
    validators = sorted(n.key.public_bytes for n in b.net.nodes)
    quorum = certificate_quorum(b.net.genesis.consensus, len(validators))

    clients = [RpcClient(b.net.nodes[i].url, timeout=10) for i in b.honest]
    try:
        for h in range(1, top + 1):
            blocks = [await c.get_block(h) for c in clients]
            assert all(blk is not None for blk in blocks), h
            assert len({(blk["hash"], blk["header"]["state_root"]) for blk in blocks}) == 1, (h, blocks)
            for c in clients:
                raw = (await c.call("chain_getCertificate", h))["raw"]
                cert = CommitCertificate.decode(bytes.fromhex(raw[2:]))
                verify_certificate(suite, cert, chain_id=b.net.genesis.chain_id, height=h,
                                   block_hash=bytes.fromhex(blocks[0]["hash"][2:]), validators=validators, quorum=quorum)
                for vote in cert.votes:  # every vote, not only a quorum of them
                    assert suite.verify(vote.validator, cert.signed_bytes(), vote.signature), (h, vote.validator.hex())
    finally:
        for c in clients:
            await c.close()
    return top


async def abuse_count(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("consortia_p2p_closed_for_abuse_total"))


async def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.3)
    return False


async def test_an_equivocating_primary_is_detected_and_cannot_split_the_honest_nodes(tmp_path):
    async with byzantine_net(tmp_path, EQUIVOCATE, after_height=SETTLE) as b:
        await run_with_load(b)
        await assert_honest_agree(b)
        # The first honest validator in key order got both proposals and both votes of each pair.
        first = min(b.honest, key=lambda i: b.net.nodes[i].key.public_bytes)
        assert (await b.engine(first))["dropped"].get("equivocation", 0) > 0
        assert "event=pbft_equivocation kind=preprepare" in b.log(first)
        assert "event=pbft_equivocation kind=prepare" in b.log(first) or "kind=commit" in b.log(first)
        # It no longer leads: the honest nodes moved to a view with an honest primary.
        info = await b.engine(b.honest[0])
        assert info["view"] > 0 and info["primary"] != "0x" + b.net.nodes[b.bad].key.public_bytes.hex()
        assert "what=equivocate_preprepare" in b.log(b.bad)


@pytest.mark.parametrize("variants", [INVALID_VARIANTS[:3], (OVERSIZED,)], ids=["root-tx-parent", "oversized"])
async def test_a_primary_proposing_invalid_blocks_is_replaced_and_nothing_invalid_commits(tmp_path, variants):
    """Each honest peer receives one kind of invalid block (in key order): a wrong state root, a
    transaction with a bad signature, a parent that does not exist; or all get an oversized block."""
    expected = {"state_root": "state_root does not match re-execution", "bad_tx": "signature does not verify",
                "wrong_parent": "does not extend the block below it", "oversized": "over max_block_bytes"}
    async with byzantine_net(tmp_path, INVALID_PROPOSAL, variants=variants, after_height=SETTLE) as b:
        await run_with_load(b)
        await assert_honest_agree(b)
        by_key = sorted(b.honest, key=lambda i: b.net.nodes[i].key.public_bytes)
        for position, i in enumerate(by_key):
            variant = variants[position % len(variants)]
            assert (await b.engine(i))["dropped"].get("invalid_proposal", 0) > 0, i
            lines = [line for line in b.log(i).splitlines() if "event=pbft_invalid_proposal" in line]
            assert lines and expected[variant] in lines[0], (variant, lines[:2])
        info = await b.engine(b.honest[0])
        assert info["primary"] != "0x" + b.net.nodes[b.bad].key.public_bytes.hex()


async def test_a_validator_with_bad_signatures_is_ignored(tmp_path):
    """Its consensus messages never verify, so the three others commit on their own votes (its
    own node may still commit with them and serve its certificates to catch-up: those carry its
    genuine vote, which is why every vote of every certificate is checked, not its absence)."""
    async with byzantine_net(tmp_path, BAD_SIGNATURE) as b:
        await run_with_load(b)
        await assert_honest_agree(b)
        for i in b.honest:
            assert (await b.engine(i))["dropped"].get("bad_signature", 0) > 0, i
        info = await b.engine(b.honest[0])
        assert info["primary"] != "0x" + b.net.nodes[b.bad].key.public_bytes.hex()  # its proposals never verified
        assert "what=bad_signature_forged_sender" in b.log(b.bad) and "what=bad_signature_corrupted" in b.log(b.bad)


async def test_a_flooding_validator_is_dropped_and_counted_while_the_others_commit(tmp_path):
    async with byzantine_net(tmp_path, FLOOD) as b:
        await run_with_load(b, blocks=2 * PROGRESS)
        await assert_honest_agree(b)

        async def counted() -> bool:
            for i in b.honest:
                engine = await b.engine(i)
                dropped = engine["dropped"]
                if engine["undecodable"] == 0 or dropped.get("out_of_window", 0) + dropped.get("flood", 0) == 0:
                    return False
                if dropped.get("equivocation", 0) == 0:  # its signed votes for random hashes
                    return False
                if "reason='malformed frame" not in b.log(i):
                    return False
            return True

        assert await wait_for(counted, 20), [await b.engine(i) for i in b.honest]
        for i in b.honest:  # the frames that were not msgpack closed the link, as abuse
            assert await abuse_count(b.net.nodes[i].url) > 0, i
        assert "event=byzantine_flood" in b.log(b.bad)


async def test_a_primary_that_withholds_everything_is_replaced_after_one_round_timeout(tmp_path):
    """It stays connected but sends no proposal, vote or view change: the three others time out
    (or join a view change another started), change view among themselves and commit without it."""
    async with byzantine_net(tmp_path, WITHHOLD, after_height=SETTLE) as b:
        await run_with_load(b)
        await assert_honest_agree(b)
        for i in b.honest:
            info = await b.engine(i)
            assert info["view"] > 0 and info["primary"] != "0x" + b.net.nodes[b.bad].key.public_bytes.hex(), info
        # Someone's round timer expired; the others may have joined the view change it started.
        assert any("event=pbft_round_timeout" in b.log(i) for i in b.honest)
        assert "what=withhold_preprepare" in b.log(b.bad) or "what=withhold_prepare" in b.log(b.bad)


async def test_raft_refuses_a_validator_whose_signatures_do_not_verify(tmp_path):
    """Raft tolerates crashes, not lies; what it does check is who sent a message. A validator
    whose every message has a corrupted signature or names another validator as sender is
    refused: the other three elect a leader among themselves and commit, and it never leads."""
    async with byzantine_net(tmp_path, BAD_SIGNATURE, consensus="raft") as b:
        await run_with_load(b)
        await assert_honest_agree(b)
        bad_key = "0x" + b.net.nodes[b.bad].key.public_bytes.hex()
        for i in b.honest:
            info = await b.engine(i)
            assert info["dropped"].get("bad_signature", 0) > 0, (i, info)
            assert info["leader"] != bad_key
        assert "what=bad_signature" in b.log(b.bad)


# --- more than f: two Byzantine validators of four ---------------------------------------------


@asynccontextmanager
async def two_byzantine_net(root: Path, behaviour: str, *, params: dict[str, int] | None = None,
                            after_height: int = SETTLE) -> AsyncIterator[ByzantineNet]:
    """Four validators; the two with the smallest keys (the primary of view 0 and the next) are
    Byzantine, each told the other's key (``--partners``: colluders need no other channel)."""
    net = make_local_net(root, "std", validators=4, params=params or PARAMS)
    order = sorted(range(4), key=lambda i: net.nodes[i].key.public_bytes)
    bad, honest = order[:2], sorted(order[2:])
    for i in honest:
        net.nodes[i].start()
    for i in bad:
        partners = tuple(net.nodes[j].key.public_bytes for j in bad if j != i)
        start_byzantine(net.nodes[i], behaviour, after_height=after_height, partners=partners)
    try:
        await net.wait_ready(60)
        assert await wait_height(net, range(4), after_height, 60), await heights(net, range(4))
        yield ByzantineNet(net, bad[0], honest, tuple(bad))
    finally:
        net.stop()


async def info(b: ByzantineNet, i: int) -> dict:
    async with RpcClient(b.net.nodes[i].url, timeout=5) as c:
        return await c.node_info()


async def health(b: ByzantineNet, i: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(b.net.nodes[i].url + "/health") as resp:
        return resp.status, await resp.json()


async def test_two_colluding_validators_fork_the_chain_and_the_honest_nodes_halt_naming_them(tmp_path):
    """The colluders show each honest node its own block and vote for both: each honest node
    commits one of them, then sees the other's certificate, halts and names the two colluders;
    it commits nothing more, keeps serving reads, and stays halted after a restart until an
    operator clears the evidence with ``consortia node clear-fork``."""
    async with two_byzantine_net(tmp_path, COLLUDE) as b:
        bad_keys = {"0x" + b.net.nodes[i].key.public_bytes.hex() for i in b.all_bad}
        load = Load(b.net, b.honest)
        load.start()
        try:
            async def all_halted() -> bool:
                return all([(await info(b, i))["fork"] is not None for i in b.honest])

            assert await wait_for(all_halted, 60), [(await info(b, i))["fork"] for i in b.honest]
            forks = {i: (await info(b, i))["fork"] for i in b.honest}
            heads = await heights(b.net, b.honest)
            await asyncio.sleep(5)  # the load and the colluders go on: nothing more commits here
            assert await heights(b.net, b.honest) == heads
        finally:
            await load.stop()
        for i, fork in forks.items():
            assert set(fork["double_signers"]) == bad_keys, (i, fork)
            assert fork["ours"] != fork["theirs"] and fork["committed_ours"] is True
            lines = [line for line in b.log(i).splitlines() if "event=fork_detected" in line]
            assert len(lines) == 1, lines
            names = set(lines[0].split("double_signers=")[1].split()[0].split(","))
            assert names == {b.net.nodes[j].name for j in b.all_bad}, lines
            status, body = await health(b, i)
            assert status == 503 and body["fork"]["height"] == fork["height"], body
            node = await info(b, i)
            assert node["healthy"] is False and node["engine"]["halted"] is True
            async with RpcClient(b.net.nodes[i].url, timeout=5) as c:  # reads keep working
                block = await c.get_block(fork["height"])
            assert block is not None and block["hash"] == fork["ours"]
        # The two honest nodes committed different blocks at one height: the attack did split them.
        fork_heights = {f["height"] for f in forks.values()}
        a, c = b.honest
        for h in fork_heights:
            async with RpcClient(b.net.nodes[a].url) as ca, RpcClient(b.net.nodes[c].url) as cc:
                blocks = [await ca.get_block(h), await cc.get_block(h)]
            if all(blocks):
                assert blocks[0]["hash"] != blocks[1]["hash"], h

        # A restart does not bring it back: the evidence is in its database.
        victim = b.honest[0]
        height = (await info(b, victim))["height"]
        b.net.nodes[victim].stop()
        b.net.nodes[victim].start()
        await b.net.nodes[victim].wait_ready(30)
        await asyncio.sleep(3)
        after = await info(b, victim)
        assert after["fork"] is not None and after["fork"]["height"] == forks[victim]["height"]
        assert after["height"] == height and after["healthy"] is False
        assert "event=fork_evidence_present" in b.log(victim)

        # The operator's procedure: stop it, read the evidence, archive and clear it.
        b.net.nodes[victim].stop()
        home = b.net.nodes[victim].home
        shown = subprocess.run([sys.executable, "-m", "node.cli.main", "node", "fork-info", "--home", str(home)],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and forks[victim]["theirs"] in shown.stdout, shown
        cleared = subprocess.run([sys.executable, "-m", "node.cli.main", "node", "clear-fork", "--home", str(home),
                                  "--height", str(forks[victim]["height"])], capture_output=True, text=True, timeout=60)
        assert cleared.returncode == 0, cleared
        assert list(home.glob("fork-evidence-*.json")), cleared.stdout
        shown = subprocess.run([sys.executable, "-m", "node.cli.main", "node", "fork-info", "--home", str(home)],
                               capture_output=True, text=True, timeout=60)
        assert "no fork evidence" in shown.stdout, shown


# A shorter round timeout than PARAMS: the stall is reported after 3 x timeout without a quorum,
# and view changes back off from it, so recovery after the restart stays within the test's time.
STALL_PARAMS = {**PARAMS, "consensus_timeout_ms": 1500}


async def test_two_withholding_validators_stall_the_chain_and_it_resumes_when_one_is_restarted(tmp_path):
    async with two_byzantine_net(tmp_path, WITHHOLD, params=STALL_PARAMS) as b:
        load = Load(b.net, b.honest)
        load.start()
        try:
            async def stalled() -> bool:
                for i in b.honest:
                    liveness = (await info(b, i))["engine"]["liveness"]
                    if liveness["stalled_since_ms"] is None:
                        return False
                return True

            assert await wait_for(stalled, 40), [((await info(b, i))["height"], (await info(b, i))["engine"]["liveness"])
                                                 for i in b.honest]
            bad_keys = {"0x" + b.net.nodes[i].key.public_bytes.hex() for i in b.all_bad}
            for i in b.honest:
                liveness = (await info(b, i))["engine"]["liveness"]
                assert liveness["heard_from"] == 2 and liveness["quorum"] == 3 and liveness["validators"] == 4, liveness
                assert set(liveness["silent"]) == bad_keys, liveness
                status, body = await health(b, i)
                assert status == 200 and body["stalled"]["heard_from"] == 2 and body["stalled"]["quorum"] == 3, body
            heads = await heights(b.net, b.honest)
            await asyncio.sleep(3)
            assert await heights(b.net, b.honest) == heads  # no commits without a quorum
            for i in b.honest:
                assert b.log(i).count("event=consensus_stalled") == 1, i  # one line per change, not per timeout

            # One of them comes back as a normal node: a quorum again, and commits resume.
            back = b.all_bad[1]
            b.net.nodes[back].stop()
            b.net.nodes[back].start()
            await b.net.nodes[back].wait_ready(30)
            assert await wait_height(b.net, b.honest, max(heads) + 3, 90), await heights(b.net, range(4))
        finally:
            await load.stop()

        async def resumed() -> bool:
            return all([(await info(b, i))["engine"]["liveness"]["stalled_since_ms"] is None for i in b.honest])

        assert await wait_for(resumed, 20)
        for i in b.honest:
            assert "event=consensus_resumed" in b.log(i), i
        await assert_honest_agree(b)
