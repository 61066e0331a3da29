"""One parameter convention for every method: each takes its documented parameters by position
(an array in the documented order) or by name (an object with the documented names), and both
give the same answer; out-of-range integers are invalid_params, never an internal error."""

from __future__ import annotations

from pathlib import Path

from node.params import param_key
from node.rpc.handlers import all_methods
from node.wire import codec
from tests.conftest import set_param
from tests.unit.rpc_node import RpcNode, rpc_node
from tests.unit.test_chain import seal

SYSCONFIG_HEX = "0x" + "00" * 18 + "1000"


async def _committed(n: RpcNode) -> tuple[str, str]:
    """One committed ParamChanged transaction: (tx hash, block hash)."""
    tx_hash = n.chain.submit(n.net.tx(n.net.admin, **set_param("min_seal_ms", 9)).encode())
    seal(n.chain, n.net.validator)
    block = (await n.call("chain_getBlockByNumber", [1]))["result"]
    return "0x" + tx_hash.hex(), block["hash"]


async def _did_contract(n: RpcNode) -> str:
    """The DID contract deployed, with did:consortia:sample created in it: its address."""
    code = (Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "did.wasm").read_bytes()
    n.chain.submit(n.net.tx(n.net.admin, to=b"", method="deploy", args={"code": code}, fuel_limit=100_000_000).encode())
    block = seal(n.chain, n.net.validator)
    address = codec.decode(n.chain.store.receipts_at(block.header.height)[-1].return_value)["address"]
    n.chain.submit(n.net.tx(n.net.admin, to=address, method="create", fuel_limit=5_000_000, args={
        "did": "did:consortia:sample", "authentication": ["k"],
        "verification_methods": [{"id": "k", "type": "Ed25519VerificationKey2020", "public_key": b"\x01" * 32}]}).encode())
    seal(n.chain, n.net.validator)
    return "0x" + address.hex()


async def test_every_http_method_answers_the_same_by_position_and_by_name(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        tx_hash, block_hash = await _committed(n)
        did_contract = await _did_contract(n)
        args = "0x" + codec.encode({"key": "min_seal_ms"}).hex()
        samples: dict[str, dict[str, object]] = {
            "chain_blockNumber": {},
            "chain_getBlockByNumber": {"height": 1, "full": True},
            "chain_getBlockByHash": {"hash": block_hash, "full": False},
            "chain_getCertificate": {"height": 1},
            "tx_get": {"hash": tx_hash},
            "tx_getReceipt": {"hash": tx_hash, "proof": True},
            "state_call": {"to": SYSCONFIG_HEX, "method": "get", "args": args, "from": "0x" + "11" * 20},
            "node_info": {},
            "node_peers": {},
            "state_getProof": {"key": "0x" + param_key("min_seal_ms").hex(), "height": 1},
            "gov_members": {},
            "gov_getProposal": {"id": 1},
            "gov_listProposals": {"status": "executed", "type": "set_param", "from_height": 1, "limit": 5, "before": 2},
            "node_list": {},
            "acl_roles": {"address": "0x" + n.net.suite.address(n.net.admin.public_bytes).hex()},
            "did_resolve": {"did": "did:consortia:sample", "contract": did_contract},
        }
        http_methods = {m.name for m in all_methods() if not m.websocket} - {"tx_send"}
        assert set(samples) == http_methods, "give every method a sample"
        for entry in all_methods():
            if entry.name not in samples:
                continue
            named = samples[entry.name]
            assert list(named) == list(entry.names)[: len(named)], entry.name
            by_name = await n.call(entry.name, named)
            by_position = await n.call(entry.name, list(named.values()))
            assert "result" in by_name, (entry.name, by_name)
            if entry.name != "node_info":  # pool and engine status may move between the calls
                assert by_name == by_position, entry.name
        # Optional parameters may be left out by name and by position alike.
        plain = await n.call("state_call", {"to": SYSCONFIG_HEX, "method": "get", "args": args})
        assert codec.decode(bytes.fromhex(plain["result"]["return_value"][2:])) == 9
        assert (await n.call("state_call", [SYSCONFIG_HEX, "list"]))["result"]["return_value"].startswith("0x")
        # tx_send: its one parameter, both ways.
        for params in (["0x" + n.net.tx().encode().hex()], {"raw": "0x" + n.net.tx().encode().hex()}):
            assert (await n.call("tx_send", params))["result"].startswith("0x")


async def test_old_wrapped_object_forms_are_refused_with_a_clear_message(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        wrapped = {"to": SYSCONFIG_HEX, "method": "list", "args": "0x"}
        for params in ([wrapped], {"call": wrapped}):
            reply = await n.call("state_call", params)
            assert reply["error"]["code"] == -32602, reply


async def test_the_certificate_has_the_shape_of_a_block_certificate(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        await _committed(n)
        cert = (await n.call("chain_getCertificate", [1]))["result"]
        block = (await n.call("chain_getBlockByNumber", {"height": 1}))["result"]
        assert cert == block["certificate"]
        assert isinstance(cert["votes"], list) and cert["votes"][0]["validator"] == "0x" + n.net.validator.public_bytes.hex()
        assert (await n.call("chain_getCertificate", [0]))["result"] is None  # genesis has none
        assert (await n.call("chain_getCertificate", [99]))["result"] is None


async def test_out_of_range_integers_are_invalid_params(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        for method, params in (("chain_getBlockByNumber", [2**64]), ("chain_getBlockByNumber", [10**40]),
                               ("chain_getBlockByNumber", [-1]), ("chain_getCertificate", [2**64]),
                               ("chain_getCertificate", {"height": 1.5}), ("chain_getBlockByNumber", [True])):
            reply = await n.call(method, params)
            assert reply["error"]["code"] == -32602 and reply["error"]["message"], (method, params, reply)
        assert (await n.call("chain_getBlockByNumber", [2**64 - 1]))["result"] is None
        unknown = "0x" + "ee" * 32
        assert (await n.call("chain_getBlockByHash", [unknown]))["result"] is None
        assert (await n.call("chain_getBlockByHash", [unknown, "yes"]))["error"]["code"] == -32602
        async with n.session.ws_connect(n.url + "/ws") as ws:
            for i, params in enumerate((["blocks", 2**64], {"topic": "events", "from_height": -3},
                                        ["blocks", None, {"name": 5}], {"topic": "nope"})):
                await ws.send_json({"jsonrpc": "2.0", "id": i, "method": "sub_subscribe", "params": params})
                reply = await ws.receive_json()
                assert reply["error"]["code"] == -32602, (params, reply)


async def test_subscriptions_take_both_forms(tmp_path: Path):
    async with rpc_node(tmp_path, run_engine=False) as n:
        await _committed(n)
        async with n.session.ws_connect(n.url + "/ws") as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": ["events", 1, {"name": "ParamChanged"}]})
            first = await ws.receive_json()
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "sub_subscribe",
                                "params": {"topic": "blocks", "from_height": 1}})
            got: dict[str, dict[str, object]] = {}
            while set(got) != {"events", "blocks", "reply2"}:
                msg = await ws.receive_json()
                if msg.get("method") == "sub_notify":
                    got[msg["params"]["topic"]] = msg["params"]
                elif msg.get("id") == 2:
                    got["reply2"] = msg
            assert isinstance(first["result"], str) and got["events"]["height"] == 1 and got["blocks"]["height"] == 1
            await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "sub_unsubscribe", "params": {"subscription": first["result"]}})
            while (msg := await ws.receive_json()).get("id") != 3:
                pass
            assert msg["result"] is True
