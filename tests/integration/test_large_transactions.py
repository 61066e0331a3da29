"""Large transactions cannot halt a real network (the "any client can halt the chain" report).

80 transactions of 450 KiB (each within max_tx_bytes) sent while two of four validators are
paused: together about 36 MiB, more than a peer-to-peer frame used to allow. Before blocks were
bounded by max_block_bytes, the primary proposed them as one block, every peer dropped the
frame, and no block committed again. Now they go out in blocks of at most max_block_bytes and
every node commits them all."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from node.devnet import make_local_net
from node.sdk import Account, RpcClient
from tests.integration.test_consensus_network import SYSCONFIG, head_of, heights, wait_height

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARAMS = {"block_interval_ms": 200, "min_seal_ms": 10, "consensus_timeout_ms": 1500, "tx_expiry_window": 100_000}


async def test_a_backlog_of_large_transactions_does_not_halt_the_chain(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    net.start()
    try:
        await net.wait_ready(60)
        assert await wait_height(net, range(4), 2, 60)
        for i in (2, 3):
            os.killpg(net.nodes[i].proc.pid, signal.SIGSTOP)
        sent: list[str] = []
        async with RpcClient(net.nodes[0].url, timeout=30) as c:
            acct = await Account.connect(c, net.admins[0])
            for _ in range(80):
                args = {"key": "block_tx_limit", "pad": os.urandom(450 * 1024)}  # only the size matters here
                sent.append((await acct.send(SYSCONFIG, "get", args, fuel_limit=50_000_000, wait=False))["hash"])
        await asyncio.sleep(2.0)
        for i in (2, 3):
            os.killpg(net.nodes[i].proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 180
        async with RpcClient(net.nodes[3].url, timeout=30) as c:
            for tx_hash in sent:
                receipt = await c.wait_for_receipt(bytes.fromhex(tx_hash[2:]), timeout=max(1.0, deadline - time.monotonic()))
                assert receipt["ok"], receipt
        target = max(await heights(net, range(4)))
        assert await wait_height(net, range(4), target, 60), await heights(net, range(4))
        heads = {await head_of(n.url, target) for n in net.nodes}
        assert len(heads) == 1, heads
        async with RpcClient(net.nodes[0].url) as c:
            limit = (await c.node_info())["params"]["max_block_bytes"]
            for h in range(1, target + 1):
                block = await c.get_block(h, full=True)
                assert sum(len(t["raw"]) // 2 - 1 for t in block["txs"]) <= limit
        for n in net.nodes:
            log = (n.home / "node.log").read_text() if (n.home / "node.log").exists() else ""
            assert "exceeds" not in log and "Traceback" not in log, log[-2000:]
    finally:
        for n in net.nodes:
            if n.proc is not None and n.proc.poll() is None:
                os.killpg(n.proc.pid, signal.SIGCONT)
        net.stop()
