"""``state_call(..., proof=true)``: the result and a multiproof of every key the call read, checked
by re-running the call on exactly the proven entries; every tampering is refused."""

from __future__ import annotations

import secrets
from pathlib import Path

import msgpack
import pytest

from node.errors import ConsensusError
from node.sdk import Account, RpcClient, RpcError
from node.sdk.verify import verify_call_proof
from node.statetree import ProofError, update
from node.statetree.multiproof import build_multiproof, verify_multiproof
from node.statetree.snapshot import wire_form
from node.wire import codec
from tests.conftest import SYSCONFIG, set_param
from tests.unit.test_chain import seal
from tests.unit.test_statetree import HASHES

EVIDENCE_WASM = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist" / "evidence.wasm"


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@pytest.mark.parametrize("name", ["sm", "std"])
def test_a_multiproof_proves_present_and_absent_keys_and_nothing_else(name):
    h = HASHES[name]
    entries = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(200)}
    tree = update(h, {}, bytes(32), entries)
    keys = [b"key-3", b"key-150", b"absent-1", b"absent-2", b"key-3"]
    nodes = build_multiproof(h, tree.nodes, tree.root, keys)
    assert len(nodes) < 4 * 9  # shared upper nodes are given once
    assert verify_multiproof(h, tree.root, keys, nodes) == {b"key-3": b"value-3", b"key-150": b"value-150",
                                                            b"absent-1": None, b"absent-2": None}
    assert verify_multiproof(h, bytes(32), [b"x"], []) == {b"x": None}
    off_path = next(wire_form(n) for n in tree.nodes.values() if wire_form(n) not in nodes)
    for bad, message in ((nodes[:-1], "lacks a node"), (nodes + [off_path], "no key's path"), (nodes + nodes[:1], "twice"),
                         ([n[:-1] + bytes([n[-1] ^ 1]) for n in nodes], "malformed|lacks a node"), ([b""] + nodes, "empty")):
        with pytest.raises(ProofError, match=message):
            verify_multiproof(h, tree.root, keys, bad)
    with pytest.raises(ProofError, match="no key's path"):
        verify_multiproof(h, tree.root, keys[:1], nodes)


async def test_a_system_contract_read_is_proven_and_every_lie_refused(chain, testnet):
    chain.submit(testnet.tx(testnet.admin, **set_param("min_seal_ms", 33), expiry_height=20).encode())
    seal(chain, testnet.validator)
    validators = chain.validators()
    args = codec.encode({"key": "min_seal_ms"})
    result, proof = await chain.query_proven_async(SYSCONFIG, "get", args)
    assert msgpack.unpackb(result) == 33
    response = {"return_value": _hex(result), "proof": proof.to_json()}
    check = dict(suite=chain.suite, to=SYSCONFIG, method="get", args=args, chain_id=chain.chain_id, validators=validators)
    assert verify_call_proof(response=response, **check) == result
    p = response["proof"]
    nodes = p["nodes"]
    flipped = nodes[-1][:-2] + ("0" if nodes[-1][-1] != "0" else "1") + nodes[-1][-1]
    lies = {
        "another result": ({**response, "return_value": _hex(msgpack.packb(34))}, "differs"),
        "a flipped node byte": ({**response, "proof": {**p, "nodes": nodes[:-1] + [flipped]}}, "call proof refused"),
        "a missing node": ({**response, "proof": {**p, "nodes": nodes[1:]}}, "call proof refused"),
        "a key left out": ({**response, "proof": {**p, "reads": p["reads"][:-1], "nodes": build_multiproof(
            chain.suite.hash, chain.tree, chain.head().state_root, [bytes.fromhex(k[2:]) for k in p["reads"][:-1]])}}, "does not cover"),
        "no certificate": ({**response, "proof": {**p, "certificate_raw": None}}, "no commit certificate"),
        "no proof": ({"return_value": response["return_value"]}, "no proof"),
        "another height": ({**response, "proof": {**p, "height": 0}}, "height"),
    }
    for name, (lie, message) in lies.items():
        with pytest.raises(ConsensusError, match=message):
            verify_call_proof(response=lie, **check)
        assert name
    with pytest.raises(ConsensusError, match="differs|reads key|failed"):  # the proof is for another call
        verify_call_proof(response=response, **{**check, "args": codec.encode({"key": "block_tx_limit"})})
    with pytest.raises(ConsensusError, match="non-validator"):
        verify_call_proof(response=response, **{**check, "validators": [testnet.user.public_bytes]})


async def test_a_wasm_contract_read_is_proven_and_rerun_with_a_vm(testnet, tmp_path):
    from node.chain import Chain
    from node.store.chainstore import ChainStore
    from node.vm import WasmVM

    chain = Chain(testnet.genesis, ChainStore(tmp_path / "data"), wasm_cache_dir=tmp_path / "cache")
    deploy = testnet.tx(testnet.admin, to=b"", method="deploy", args={"code": EVIDENCE_WASM.read_bytes()}, fuel_limit=100_000_000)
    chain.submit(deploy.encode())
    seal(chain, testnet.validator)
    address = codec.decode(chain.store.receipts_at(1)[0].return_value)["address"]
    record = secrets.token_bytes(32)
    chain.submit(testnet.tx(testnet.admin, to=address, method="record", args={"hash": record, "kind": "data_input"},
                            fuel_limit=5_000_000).encode())
    seal(chain, testnet.validator)
    args = codec.encode({"hash": record})
    result, proof = await chain.query_proven_async(address, "get", args)
    assert codec.decode(result) is not None
    response = {"return_value": _hex(result), "proof": proof.to_json()}
    check = dict(suite=chain.suite, to=address, method="get", args=args, chain_id=chain.chain_id, validators=chain.validators())
    fresh_vm = WasmVM(chain.suite)  # a client's own runtime, with nothing cached
    assert verify_call_proof(response=response, vm=fresh_vm, **check) == result
    with pytest.raises(ConsensusError, match="failed"):
        verify_call_proof(response=response, **check)  # no WASM runtime: cannot re-run, so nothing is trusted
    chain.store.close()


async def test_state_call_with_proof_over_rpc(node):
    net, chain, rpc, session, url = node
    async with RpcClient(url) as client:
        admin = await Account.connect(client, net.admin)
        change = set_param("min_seal_ms", 7)
        assert (await admin.send(change["to"], change["method"], change["args"]))["receipt"]["ok"]
        args = codec.encode({})
        answer = await client.call_named("state_call", {"to": _hex(SYSCONFIG), "method": "list", "args": _hex(args), "proof": True})
        plain = await client.call_named("state_call", {"to": _hex(SYSCONFIG), "method": "list", "args": _hex(args)})
        assert "proof" not in plain and answer["return_value"] == plain["return_value"] and answer["proof"]["height"] > 0
        proven = verify_call_proof(net.suite, answer, to=SYSCONFIG, method="list", args=args, chain_id=chain.chain_id,
                                   validators=[net.validator.public_bytes])
        assert msgpack.unpackb(proven)["min_seal_ms"] == 7
        by_position = await client.call("state_call", _hex(SYSCONFIG), "list", _hex(args), None, True)
        assert set(by_position) == {"return_value", "proof"}
        through_sdk = await client.query_proven(SYSCONFIG, "list", args)
        assert verify_call_proof(net.suite, through_sdk, to=SYSCONFIG, method="list", args=args, chain_id=chain.chain_id,
                                 validators=[net.validator.public_bytes]) == proven
        with pytest.raises(RpcError) as bad:
            await client.call_named("state_call", {"to": _hex(SYSCONFIG), "method": "list", "proof": "yes"})
        assert bad.value.code == -32602
