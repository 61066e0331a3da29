"""Hostile RPC clients against a real node process: thousands of idle WebSocket connections and
slow-loris HTTP clients do not stop it from serving everyone else or from committing."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from node.devnet import make_local_net
from tests.integration.test_consensus_network import PARAMS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BODY = {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}


async def _height(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    start = time.monotonic()
    async with session.post(url, json=BODY, timeout=aiohttp.ClientTimeout(total=10)) as r:
        return (await r.json())["result"], time.monotonic() - start


async def test_idle_websockets_and_slow_clients_do_not_starve_others(tmp_path):
    net = make_local_net(tmp_path, "std", validators=1, params=PARAMS)
    node = net.nodes[0]
    net.start()
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    slow: list[asyncio.StreamWriter] = []
    try:
        await net.wait_ready(30)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            ws_url = node.url.replace("http://", "ws://") + "/ws"
            for _batch in range(10):
                batch = await asyncio.gather(*(session.ws_connect(ws_url, heartbeat=None) for _ in range(200)))
                sockets.extend(batch)
            assert len(sockets) == 2000
            host, port = node.url.removeprefix("http://").split(":")
            for _ in range(200):  # slow loris: a request line and then nothing
                _, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
                await writer.drain()
                slow.append(writer)
            before, _ = await _height(session, node.url)
            await asyncio.sleep(2.0)
            after, latency = await _height(session, node.url)
            assert after > before, "the node stopped committing"
            assert latency < 1.0, f"an ordinary request took {latency:.2f} s"
            # The held connections still work: one of them subscribes and hears a block.
            ws = sockets[-1]
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "sub_subscribe", "params": {"topic": "blocks"}})
            got = [await asyncio.wait_for(ws.receive_json(), 10) for _ in range(2)]
            assert any(m.get("method") == "sub_notify" for m in got), got
            for ws in sockets:
                await ws.close()
        assert node.proc is not None and node.proc.poll() is None
    finally:
        for w in slow:
            w.close()
        net.stop()
