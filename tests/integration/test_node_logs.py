"""A busy node's logs, at debug level and in both formats, never contain the key material it runs with."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from node.config import NodeConfig
from node.devnet import make_local_net
from node.execution.system.registry import address_of
from node.sdk import Account, RpcClient
from tests.integration.test_consensus_network import wait_height

pytestmark = [pytest.mark.integration]


def _secrets_of(net) -> list[str]:
    """Every private key the network's processes hold, in the spellings a log line could carry."""
    secrets = []
    for key in [n.key for n in net.nodes] + list(net.admins):
        secrets += [key.private_bytes.hex(), key.private_bytes.hex().upper()]
    for n in net.nodes:
        pem = (n.home / "tls" / "node.key").read_text()
        secrets += [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return secrets


async def test_a_busy_node_logs_events_but_no_key_material(tmp_path):
    net = make_local_net(tmp_path, "std", validators=1, observers=1, params={"block_interval_ms": 100, "min_seal_ms": 5})
    for node, fmt in zip(net.nodes, ("kv", "json")):
        config = NodeConfig.load(node.home)
        config.log.level, config.log.format = "debug", fmt
        if fmt == "json":
            config.log.file = "logs/node.log"
        config.save(node.home)
    net.start()
    try:
        await net.wait_ready(30)
        acl = address_of("acl")
        async with RpcClient(net.nodes[0].url, timeout=30) as c:
            acct = await Account.connect(c, net.admins[0])
            sent = [await acct.send(acl, "roles", {"address": acct.address}, wait=False) for _ in range(150)]
            for tx in sent[-5:]:
                assert (await c.wait_for_receipt(bytes.fromhex(tx["hash"][2:]), timeout=60))["ok"]
        async with aiohttp.ClientSession() as s:  # hostile input adds warning and error paths to the logs
            for body in (b"{", b'{"jsonrpc":"2.0","id":1,"method":"tx_send","params":["0x00"]}', b"[]"):
                async with s.post(net.nodes[0].url, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()
        async with RpcClient(net.nodes[0].url) as c:
            height = await c.block_number()
        assert await wait_height(net, [1], height, 60)
        await asyncio.sleep(0.5)
    finally:
        net.stop()
    kv_log = (net.nodes[0].home / "node.log").read_text()
    json_log = (net.nodes[1].home / "logs" / "node.log").read_text()
    assert "event=rpc_listening" in kv_log and "level=info" in kv_log
    events = [json.loads(line) for line in json_log.splitlines()]  # every line is one JSON object
    assert any(e.get("event") == "catchup" or e.get("event") == "peer_connected" for e in events), json_log[-2000:]
    for text in (kv_log, json_log, (net.nodes[1].home / "node.log").read_text()):
        for secret in _secrets_of(net):
            assert secret not in text
