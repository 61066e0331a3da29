"""A node process takes its browser allow-list from config.toml (``[rpc] cors_origins``)."""

from __future__ import annotations

import aiohttp
import pytest

from node.config import NodeConfig
from node.devnet import make_local_net

pytestmark = [pytest.mark.integration]

ALLOWED = "https://explorer.example.com"


async def test_the_configured_origin_is_served_and_others_are_refused(tmp_path):
    net = make_local_net(tmp_path, "std", validators=1)
    node = net.nodes[0]
    config = NodeConfig.load(node.home)
    config.rpc.cors_origins = [ALLOWED]
    config.save(node.home)
    net.start()
    try:
        await net.wait_ready(30)
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        body = {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}
        async with aiohttp.ClientSession() as s:
            async with s.options(node.url, headers={"Origin": ALLOWED, **preflight}) as r:
                assert r.status in (200, 204) and r.headers.get("Access-Control-Allow-Origin") == ALLOWED
            async with s.post(node.url, json=body, headers={"Origin": ALLOWED}) as r:
                assert r.status == 200 and r.headers.get("Access-Control-Allow-Origin") == ALLOWED
            async with s.options(node.url, headers={"Origin": "https://evil.example", **preflight}) as r:
                assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
            async with s.post(node.url, json=body, headers={"Origin": "https://evil.example"}) as r:
                assert r.status == 403 and (await r.json())["error"]["code"] == -32008
    finally:
        net.stop()
