"""Transactions a node acknowledged survive every validator being killed before any block took them.

Two of four validators are paused, so nothing can commit; node 0 acknowledges a batch of client
transactions and forwards them; then all four processes are killed with SIGKILL. No pool holds
anything any more: only node 0's journal does. After the restart every acknowledged transaction
must commit (without the journal none would).
"""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest

from node.devnet import make_local_net
from tests.integration.test_consensus_network import PARAMS
from tests.integration.test_crash_recovery import rpc, signed_set

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_acknowledged_transactions_survive_every_pool_being_killed(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    front = net.nodes[0]
    net.start()
    try:
        await net.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            await rpc(session, front.url, "chain_blockNumber")
            for n in net.nodes[2:]:
                assert n.proc is not None
                os.killpg(n.proc.pid, signal.SIGSTOP)  # no quorum: nothing commits from here on
            await asyncio.sleep(0.5)
            height = await rpc(session, front.url, "chain_blockNumber")
            hashes = [await rpc(session, front.url, "tx_send", "0x" + signed_set(net, i, height + 5_000).encode().hex())
                      for i in range(20)]
            assert [await rpc(session, front.url, "tx_getReceipt", h) for h in hashes] == [None] * len(hashes)
            for n in net.nodes:
                n.kill9()
            for n in net.nodes:
                n.start()
            await net.wait_ready(60)
            assert "event=pool_restored restored=20 refused=0" in front.log_path.read_text(), front.log_tail()
            other = net.nodes[3].url
            for h in hashes:
                for _ in range(300):
                    receipt = await rpc(session, other, "tx_getReceipt", h)
                    if receipt is not None:
                        break
                    await asyncio.sleep(0.1)
                assert receipt is not None, f"acknowledged {h} was lost: {front.log_tail()}"
    finally:
        net.stop()
