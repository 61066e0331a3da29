"""kill -9 while committing a stream of transactions; restart; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import secrets

import aiohttp
import pytest

from node.crypto import get_suite
from node.devnet import make_local_net
from node.wire import codec
from node.wire.types import Transaction

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMITTEE = bytes(18) + (0x4000).to_bytes(2, "big")


async def rpc(session, url, method, *params):
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as r:
        reply = await r.json()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


def signed_set(net, value: int, expiry: int) -> Transaction:
    admin = net.admins[0]
    tx = Transaction(chain_id=net.genesis.chain_id, nonce=secrets.token_bytes(16), expiry_height=expiry,
                     sender_pubkey=admin.public_bytes, to=COMMITTEE, method="propose",
                     args=codec.encode({"type": "set_param", "payload": {"key": "block_tx_limit", "value": 1000 + value % 40_000}}),
                     fuel_limit=1_000_000)
    suite = get_suite(net.genesis.suite)
    return Transaction(**{**tx.to_map(), "signature": suite.sign(admin.private_bytes, tx.signing_bytes())})


@pytest.mark.parametrize("suite", ["std", "sm"])
async def test_kill9_during_commits_then_restart(tmp_path, suite):
    net = make_local_net(tmp_path, suite, params={"block_interval_ms": 100, "min_seal_ms": 5, "tx_expiry_window": 100000})
    node = net.nodes[0]
    node.start()
    acknowledged: dict[str, dict] = {}
    try:
        await node.wait_ready()
        async with aiohttp.ClientSession() as session:
            stop = asyncio.Event()

            async def sender(worker: int) -> None:
                i = 0
                while not stop.is_set():
                    i += 1
                    value = 1000 + worker * 100000 + i
                    tx = signed_set(net, value, 50_000)
                    try:
                        h = await rpc(session, node.url, "tx_send", "0x" + tx.encode().hex())
                        for _ in range(200):
                            r = await rpc(session, node.url, "tx_getReceipt", h)
                            if r is not None:
                                acknowledged[h] = r
                                break
                            await asyncio.sleep(0.01)
                    except (TimeoutError, aiohttp.ClientError, RuntimeError):
                        return  # the node died under us

            tasks = [asyncio.create_task(sender(w)) for w in range(4)]
            while len(acknowledged) < 60:
                await asyncio.sleep(0.02)
            node.kill9()  # mid-stream: senders are submitting and blocks are committing
            stop.set()
            await asyncio.gather(*tasks)
            assert len(acknowledged) >= 60

            node.start()
            await node.wait_ready()
            head = await rpc(session, node.url, "chain_blockNumber")
            assert head >= max(r["height"] for r in acknowledged.values())
            for h, before in acknowledged.items():
                after = await rpc(session, node.url, "tx_getReceipt", h)
                assert after is not None and after["raw"] == before["raw"] and after["block_hash"] == before["block_hash"]
            # The chain keeps going after the restart, on top of the same head.
            info = await rpc(session, node.url, "node_info")
            block = await rpc(session, node.url, "chain_getBlockByNumber", info["height"])
            assert block["header"]["state_root"] == info["state_root"]
            tx = signed_set(net, 424242, info["height"] + 1000)
            h = await rpc(session, node.url, "tx_send", "0x" + tx.encode().hex())
            for _ in range(500):
                r = await rpc(session, node.url, "tx_getReceipt", h)
                if r is not None:
                    break
                await asyncio.sleep(0.01)
            assert r is not None and r["ok"] and r["height"] > head
    finally:
        node.stop()
