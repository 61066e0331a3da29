"""JSON-RPC over HTTP and WebSocket against an in-process node (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import json

import pytest

from node.chainview import ChainReader
from node.events import SyncProgress
from node.merkle import proof_from_json, verify_proof
from node.metrics import NodeMetrics
from node.rpc.dispatch import Dispatcher
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.handlers import all_methods
from node.wire import codec
from node.wire.types import BlockHeader, Receipt
from tests.conftest import set_param
from tests.scrape import Scrape, scrape
from tests.unit.rpc_node import rpc_node
from tests.unit.test_chain import seal
from tests.unit.test_chainview import DamagedStore


async def post(session, url, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)


async def call(session, url, method, *params):
    status, reply = await post(session, url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert status == 200
    return reply


async def wait_receipt(session, url, tx_hash, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        reply = await call(session, url, "tx_getReceipt", tx_hash, True)
        if reply["result"] is not None:
            return reply["result"]
        await asyncio.sleep(0.02)
    raise AssertionError("no receipt")


async def test_send_and_prove_receipt(node):
    net, chain, rpc, session, url = node
    tx = net.tx(net.admin, **set_param("min_seal_ms", 3))
    reply = await call(session, url, "tx_send", "0x" + tx.encode().hex())
    tx_hash = reply["result"]
    receipt = await wait_receipt(session, url, tx_hash)
    assert receipt["ok"] and "ParamChanged" in [e["name"] for e in receipt["events"]]
    proof = receipt["proof"]
    header = BlockHeader.from_map(codec.decode(bytes.fromhex(proof["header_raw"][2:])))
    h = net.suite.hash
    assert "0x" + h(bytes.fromhex(proof["header_raw"][2:])).hex() == proof["block_hash"]
    assert verify_proof(h, bytes.fromhex(tx_hash[2:]), proof_from_json(proof["tx_proof"]), header.tx_root)
    raw = bytes.fromhex(receipt["raw"][2:])
    assert Receipt.decode(raw).tx_hash.hex() == tx_hash[2:]
    assert verify_proof(h, raw, proof_from_json(proof["receipt_proof"]), header.receipt_root)
    assert proof == rpc.env.reader.receipt_proof(receipt["height"], receipt["index"]).to_json()
    got = (await call(session, url, "tx_get", tx_hash))["result"]
    assert got["status"] == "committed" and got["method"] == "propose"
    block = (await call(session, url, "chain_getBlockByNumber", receipt["height"], True))["result"]
    assert block["txs"][receipt["index"]]["hash"] == tx_hash
    by_hash = (await call(session, url, "chain_getBlockByHash", block["hash"]))["result"]
    assert by_hash["height"] == block["height"]


async def test_state_call_and_node_info(node):
    net, chain, rpc, session, url = node
    args = "0x" + codec.encode({"key": "block_tx_limit"}).hex()
    reply = await call(session, url, "state_call", "0x" + "00" * 18 + "1000", "get", args)
    assert codec.decode(bytes.fromhex(reply["result"]["return_value"][2:])) == 2000
    info = (await call(session, url, "node_info"))["result"]
    assert info["chain_id"] == "test-chain" and info["suite"] == "std" and info["validators"]
    propose = "0x" + codec.encode(set_param("block_tx_limit", 3)["args"]).hex()
    status, bad = await post(session, url, {"jsonrpc": "2.0", "id": 1, "method": "state_call",
                                            "params": {"to": "0x" + "00" * 18 + "4000", "method": "propose", "args": propose}})
    assert bad["error"]["code"] == -32007 and "cannot run as a query" in bad["error"]["message"]


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b"42", -32600),
        ({"jsonrpc": "1.0", "id": 1, "method": "node_info"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "node_info", "params": 3}, -32600),
        ({"jsonrpc": "2.0", "id": {"x": 1}, "method": "node_info"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "no_such"}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "chain_getBlockByNumber", "params": ["x"]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "chain_getBlockByNumber", "params": []}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "chain_getBlockByNumber", "params": [1, 2, 3]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tx_get", "params": ["0x1234"]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tx_send", "params": ["0xzz"]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tx_send", "params": ["0xc1"]}, -32001),
        ({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": ["blocks"]}, -32010),
        ({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": {"nope": 1}}, -32602),  # bound before the transport check
        ({"jsonrpc": "2.0", "id": 1, "method": "sub_unsubscribe", "params": {"session": "0x1"}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber", "params": {"env": None}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "node_info", "params": [None]}, -32602),
    ],
)
async def test_bad_requests_get_standard_errors(node, body, code):
    net, chain, rpc, session, url = node
    status, reply = await post(session, url, body)
    assert reply["error"]["code"] == code, reply
    assert (await call(session, url, "chain_blockNumber"))["result"] >= 0  # still serving


async def test_bad_transactions_change_nothing(node):
    net, chain, rpc, session, url = node
    good = net.tx()
    forged = type(good)(**{**good.to_map(), "signature": bytes(64)})
    other_chain = net.tx(chain_id="elsewhere")
    expired = net.tx(expiry_height=0)
    for tx, code in ((forged, -32003), (other_chain, -32002), (expired, -32002)):
        reply = await call(session, url, "tx_send", "0x" + tx.encode().hex())
        assert reply["error"]["code"] == code
    assert len(chain.pool) == 0
    first = await call(session, url, "tx_send", "0x" + good.encode().hex())
    again = await call(session, url, "tx_send", "0x" + good.encode().hex())
    assert "result" in first and again["error"]["code"] == -32004


async def test_batches_notifications_and_limits(node):
    net, chain, rpc, session, url = node
    status, reply = await post(session, url, [
        {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"},
        {"jsonrpc": "2.0", "method": "chain_blockNumber"},  # notification: no reply
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
    ])
    assert [r["id"] for r in reply] == [1, "b"] and reply[1]["error"]["code"] == -32601
    status, reply = await post(session, url, {"jsonrpc": "2.0", "method": "chain_blockNumber"})
    assert status == 204 and reply is None
    status, reply = await post(session, url, [{"jsonrpc": "2.0", "id": i, "method": "chain_blockNumber"} for i in range(11)])
    assert reply["error"]["code"] == -32009
    status, reply = await post(session, url, b"[" + b" " * 70_000 + b"]")
    assert status == 413 and reply["error"]["code"] == -32009
    status, reply = await post(session, url, {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber", "params": {"x": 1}})
    assert reply["error"]["code"] == -32602


async def test_metrics(node):
    net, chain, rpc, session, url = node
    await call(session, url, "chain_blockNumber")
    await call(session, url, "no_such")
    await post(session, url, {"jsonrpc": "2.0", "id": 1, "method": "tx_send", "params": ["0x00"]})
    while chain.height < 2:
        await asyncio.sleep(0.02)
    async with session.get(url + "/metrics") as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        got = Scrape.parse(await resp.text())
    ours = {name for name in got.types if name.startswith("consortia_")}
    assert ours == {
        "consortia_block_height", "consortia_txpool_size", "consortia_txpool_admitted", "consortia_txpool_rejected",
        "consortia_txpool_rejected_by_reason", "consortia_blocks_committed", "consortia_txs_committed", "consortia_ws_connections",
        "consortia_rpc_calls", "consortia_rpc_errors", "consortia_rpc_request_duration_seconds", "consortia_rpc_connections",
        "consortia_open_fds", "consortia_open_fds_limit", "consortia_connections_refused", "consortia_view_changes",
        "consortia_sync_blocks", "consortia_consensus_round_seconds", "consortia_tx_commit_latency_seconds",
        "consortia_block_execution_seconds", "consortia_block_store_seconds", "consortia_consensus_view",
        "consortia_consensus_heights_in_flight", "consortia_node_failed",
    }  # the consortia_p2p_* series only where the node runs peer networking
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= got.names
    assert got.value("consortia_rpc_calls_total", method="chain_blockNumber") == 1
    assert got.value("consortia_rpc_request_duration_seconds_count", method="chain_blockNumber") == 1
    assert got.value("consortia_rpc_errors_total", code="-32601") == 1
    assert got.value("consortia_txpool_rejected_total") == 1
    assert got.value("consortia_txpool_rejected_by_reason_total", reason="decode_error", source="client") == 1
    committed = got.value("consortia_blocks_committed_total")
    assert committed is not None and committed >= 2 and committed <= rpc.env.metrics.blocks_committed
    assert got.value("consortia_block_execution_seconds_count") == committed
    assert got.value("consortia_consensus_view") == 0


async def test_metrics_in_openmetrics_when_asked(tmp_path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        async with n.session.get(n.url + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as resp:
            text = await resp.text()
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n") and "consortia_block_height 0" in text


async def test_each_node_has_its_own_registry(tmp_path):
    """Two nodes in one process: one's calls never show in the other's series."""
    async with rpc_node(tmp_path / "a", run_engine=False) as a, rpc_node(tmp_path / "b", run_engine=False) as b:
        await a.call("chain_blockNumber")
        await a.call("chain_blockNumber")
        await b.call("chain_blockNumber")
        got_a, got_b = await scrape(a.session, a.url), await scrape(b.session, b.url)
        assert got_a.value("consortia_rpc_calls_total", method="chain_blockNumber") == 2
        assert got_b.value("consortia_rpc_calls_total", method="chain_blockNumber") == 1


def _env(chain, store=None, metrics=None) -> RpcEnv:
    """An observer's environment (no engine) over ``chain``, optionally reading a damaged store."""
    reader = ChainReader(store or chain.store, chain.suite, chain.genesis, chain.pool)
    return RpcEnv(reader=reader, chain=chain, pool=chain.pool, identity=NodeIdentity("observer-0", "observer", bytes(32)),
                  engine=None, peers=lambda: [{"name": "validator-0"}], bus=chain.bus, metrics=metrics or NodeMetrics(chain.bus))


async def _rpc(env, method, *params):
    return await Dispatcher(all_methods(), env, max_batch=10).handle_one({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})


async def test_proof_for_a_damaged_block_is_not_found_not_a_crash(chain, testnet):
    tx_hash = chain.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 3)).encode())
    seal(chain, testnet.validator)
    damaged = _env(chain, DamagedStore(chain.store, no_block={1}))
    plain = await _rpc(damaged, "tx_getReceipt", "0x" + tx_hash.hex())
    assert plain["result"]["tx_hash"] == "0x" + tx_hash.hex() and "proof" not in plain["result"]
    proved = await _rpc(damaged, "tx_getReceipt", "0x" + tx_hash.hex(), True)
    assert proved["error"]["code"] == -32006
    assert (await _rpc(damaged, "tx_get", "0x" + tx_hash.hex()))["result"] is None
    assert (await _rpc(damaged, "chain_getBlockByNumber", 1))["result"] is None
    whole = await _rpc(_env(chain), "tx_getReceipt", "0x" + tx_hash.hex(), True)
    assert whole["result"]["proof"]["tx_index"] == 0


async def test_observer_reports_synced_blocks_and_peers(chain):
    metrics = NodeMetrics(chain.bus)
    env = _env(chain, metrics=metrics)
    chain.bus.publish(SyncProgress(applied=4, height=4, target=6))
    info = (await _rpc(env, "node_info"))["result"]
    assert info["engine"] == {"engine": "observer", "synced_blocks": 4}
    assert info["node_name"] == "observer-0" and info["role"] == "observer" and info["genesis_hash"] == "0x" + chain.genesis_hash.hex()
    assert (await _rpc(env, "node_peers"))["result"] == [{"name": "validator-0"}]


async def _collect(ws, n, timeout=10.0):
    out = []
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive_json(), timeout)
        if msg.get("method") == "sub_notify":
            out.append(msg["params"])
    return out


async def test_subscription_replays_then_streams_and_resumes(node):
    net, chain, rpc, session, url = node
    while chain.height < 3:
        await asyncio.sleep(0.02)
    async with session.ws_connect(url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": {"topic": "blocks", "from_height": 1}})
        reply = await ws.receive_json()
        assert reply["id"] == 1 and isinstance(reply["result"], str)
        got = await _collect(ws, 5)
    heights = [g["height"] for g in got]
    assert heights == list(range(1, 6))
    async with session.ws_connect(url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "sub_subscribe", "params": ["blocks", heights[-1] + 1]})
        await ws.receive_json()
        again = await _collect(ws, 3)
    assert [g["height"] for g in again] == list(range(6, 9))


async def test_event_subscription_with_filter(node):
    net, chain, rpc, session, url = node
    async with session.ws_connect(url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe",
                            "params": {"topic": "events", "from_height": 0, "filter": {"name": "ParamChanged"}}})
        await ws.receive_json()
        tx = net.tx(net.admin, **set_param("min_seal_ms", 4))
        await call(session, url, "tx_send", "0x" + tx.encode().hex())
        (note,) = await _collect(ws, 1)
        assert note["result"]["events"][0]["name"] == "ParamChanged"
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "sub_subscribe", "params": {"topic": "nope"}})
        while True:
            msg = await ws.receive_json()
            if msg.get("id") == 3:
                assert msg["error"]["code"] == -32602
                break
        await ws.send_str("{garbage")
        while True:
            msg = await ws.receive_json()
            if "error" in msg and msg.get("id") is None:
                assert msg["error"]["code"] == -32700
                break
