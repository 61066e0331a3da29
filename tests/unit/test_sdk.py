"""The SDK against an in-process node: accounts, queries, proofs, resumable subscriptions."""

from __future__ import annotations

import asyncio

import pytest

from consensus.certificate import verify_certificate  # noqa: F401  (imported for clarity of what is checked)
from node.errors import ConsensusError, Unavailable
from node.sdk import Account, RpcClient, RpcError, verify_receipt_proof
from node.sdk.args import json_to_args, to_jsonable
from node.sdk.client import ReceiptTimeout
from node.sdk.governance import COMMITTEE, param_proposal
from tests.conftest import SYSCONFIG


async def test_account_send_query_and_proof(node):
    net, chain, rpc, session, url = node
    async with RpcClient(url) as client:
        admin = await Account.connect(client, net.admin)
        out = await admin.send(COMMITTEE, "propose", param_proposal("block_tx_limit", 777))
        assert out["receipt"]["ok"]
        assert await client.query(SYSCONFIG, "get", {"key": "block_tx_limit"}) == 777
        receipt = await client.get_receipt(out["hash"], proof=True)
        validators = [net.validator.public_bytes]
        proven = verify_receipt_proof(net.suite, receipt, chain_id=chain.chain_id, validators=validators,
                                      tx_hash=bytes.fromhex(out["hash"][2:]))
        assert proven.ok

        def tampered(**changes):
            r = {**receipt, "proof": dict(receipt["proof"])}
            for k, v in changes.items():
                if k in r["proof"]:
                    r["proof"][k] = v
                else:
                    r[k] = v
            return r

        other = await admin.send(COMMITTEE, "propose", param_proposal("block_tx_limit", 778))
        other_receipt = await client.get_receipt(other["hash"], proof=True)
        stranger = net.suite.generate_keypair()
        cases = [
            tampered(raw=other_receipt["raw"]),  # someone else's receipt
            tampered(header_raw=other_receipt["proof"]["header_raw"]),
            tampered(tx_proof=[{"sibling": "0x" + "11" * 32, "position": "left"}]),
            tampered(receipt_proof=[{"sibling": "0x" + "11" * 32, "position": "right"}]),
            tampered(certificate_raw=other_receipt["proof"]["certificate_raw"]),
            tampered(certificate_raw=None),
            tampered(proof=None),
        ]
        for bad in cases:
            with pytest.raises(ConsensusError):
                verify_receipt_proof(net.suite, bad, chain_id=chain.chain_id, validators=validators,
                                     tx_hash=bytes.fromhex(out["hash"][2:]))
        with pytest.raises(ConsensusError, match="non-validator"):
            verify_receipt_proof(net.suite, receipt, chain_id=chain.chain_id, validators=[stranger.public_bytes])


async def test_rpc_errors_carry_codes(node):
    net, chain, rpc, session, url = node
    async with RpcClient(url) as client:
        with pytest.raises(RpcError) as err:
            await client.call("no_such_method")
        assert err.value.code == -32601
        results = await client.batch([("chain_blockNumber", []), ("tx_get", ["0x12"])])
        assert isinstance(results[0], int) and isinstance(results[1], RpcError) and results[1].code == -32602
    async with RpcClient("http://127.0.0.1:9") as dead:
        with pytest.raises(Unavailable, match="cannot reach node"):
            await dead.block_number()


async def test_subscription_resumes_after_a_dropped_connection(node):
    net, chain, rpc, session, url = node
    while chain.height < 2:
        await asyncio.sleep(0.02)
    async with RpcClient(url) as client:
        heights = []
        async for note in client.subscribe("blocks", 1):
            heights.append(note["height"])
            if len(heights) == 3:
                for ws in list(rpc._ws):  # the server drops every WebSocket mid-stream
                    await ws.close()
            if len(heights) == 8:
                break
    assert heights == list(range(1, 9))


def test_json_args_convention():
    assert json_to_args({"a": "0x0102", "b": ["0x", "x"], "c": 1}) == {"a": b"\x01\x02", "b": ["0x", "x"], "c": 1}
    assert to_jsonable({"a": b"\x01", "b": [b"\x02"]}) == {"a": "0x01", "b": ["0x02"]}


async def test_wait_for_receipt_resends_a_transaction_the_node_does_not_know(node):
    """A node restarted without the transaction (or another node asked): the signed bytes are sent
    again, and the receipt comes."""
    net, chain, rpc, session, url = node
    async with RpcClient(url) as client:
        admin = await Account.connect(client, net.admin)
        tx = await admin.build(COMMITTEE, "propose", param_proposal("block_tx_limit", 779))
        raw = tx.encode()
        tx_hash = net.suite.hash(tx.signing_bytes())
        with pytest.raises(ReceiptTimeout):  # never sent, no resend: nothing comes
            await client.wait_for_receipt(tx_hash, timeout=0.5)
        receipt = await client.wait_for_receipt(tx_hash, timeout=20, resend=raw, resend_every=0.2)
        assert receipt["ok"]
        # Sending it once more is harmless: "already known", and the wait returns at once.
        again = await client.wait_for_receipt(tx_hash, timeout=5, resend=raw, resend_every=0)
        assert again == receipt


async def test_wait_for_receipt_with_resend_outlasts_an_unreachable_node(unused_tcp_port):
    async with RpcClient(f"http://127.0.0.1:{unused_tcp_port}", timeout=0.5) as client:
        with pytest.raises(Unavailable):
            await client.wait_for_receipt(b"\x01" * 32, timeout=1)
        with pytest.raises(ReceiptTimeout):
            await client.wait_for_receipt(b"\x01" * 32, timeout=1, resend=b"\x00", resend_every=0.1)
