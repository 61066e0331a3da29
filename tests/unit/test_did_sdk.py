"""DID from Python: the SDK and did_resolve on an in-process node, and the off-chain handshake."""

from __future__ import annotations

import pytest

from node.crypto import get_suite
from node.errors import NotFound
from node.sdk import Account, RpcClient, RpcError
from node.sdk.contracts import Contract, builtin_code, deploy
from node.sdk.did import Did, Service, verification_method
from node.sdk.didauth import _G, AuthError, Confirm, Hello, Initiator, Reply, Responder, _mul
from node.wire.diddoc import base58btc, from_base58btc, public_key, to_document
from tests.unit import contract_chain

biz_node = contract_chain.biz_node  # the fixture


async def test_sdk_create_and_resolve_over_rpc(biz_node):
    net, keys, url = biz_node
    async with RpcClient(url) as client:
        admin = await Account.connect(client, net.admin)
        d = await deploy(admin, builtin_code("did"))
        did = Did(Contract(client, d.address, admin))
        await did.create("bank", [verification_method(net.suite, net.admin.public_bytes)],
                         services=[Service("worker", "PrivacyWorker", "https://bank.example/w")])
        out = await client.call_named("did_resolve", {"did": "did:consortia:bank", "contract": "0x" + d.address.hex()})
        doc = out["didDocument"]
        assert doc["id"] == "did:consortia:bank" and doc["authentication"] == ["did:consortia:bank#key-1"]
        assert public_key(doc, "#key-1") == ("Ed25519VerificationKey2020", net.admin.public_bytes)
        assert doc["service"][0]["serviceEndpoint"] == "https://bank.example/w"
        assert out["didDocumentMetadata"]["controllerAccount"] == "0x" + admin.address.hex()
        assert out == await did.resolve("bank")
        with pytest.raises(RpcError) as missing:
            await client.call_named("did_resolve", {"did": "did:consortia:nobody", "contract": "0x" + d.address.hex()})
        assert missing.value.code == NotFound.code
        with pytest.raises(RpcError, match="did:consortia"):
            await client.call_named("did_resolve", {"did": "bank", "contract": "0x" + d.address.hex()})
        with pytest.raises(RpcError, match="cannot resolve") as nowhere:
            await client.call_named("did_resolve", {"did": "did:consortia:bank", "contract": "0x" + "42" * 20})
        assert nowhere.value.code == -32602


def test_base58_round_trips():
    for data in (b"", b"\0\0\x01", bytes(range(32)), b"\xff" * 65):
        assert from_base58btc(base58btc(data)) == data
    assert base58btc(b"hello world") == "StV1DL6CwTryKyV"


def test_sm2_scalar_multiplication_matches_the_library():
    from tongsuopy.crypto.asymciphers import ec

    k = ec.generate_private_key(ec.SM2()).private_numbers()
    assert _mul(k.private_value, _G) == (k.public_numbers.x, k.public_numbers.y)


def _record(suite, did: str, key) -> dict:
    kind = "Ed25519VerificationKey2020" if suite.name == "std" else "SM2VerificationKey"
    return to_document({"id": did, "controller": b"\1" * 20, "verification_methods": [{"id": "key-1", "type": kind,
                        "public_key": key.public_bytes}], "authentication": ["key-1"], "version": 1})


@pytest.mark.parametrize("suite_name", ["std", "sm"])
def test_handshake_authenticates_both_sides_and_agrees_a_key(suite_name: str):
    suite = get_suite(suite_name)
    ka, kb = suite.generate_keypair(), suite.generate_keypair()
    doc_a, doc_b = _record(suite, "did:consortia:a", ka), _record(suite, "did:consortia:b", kb)
    a = Initiator(suite, "did:consortia:a", ka)
    b = Responder(suite, "did:consortia:b", kb)
    reply = b.reply(Hello.decode(a.hello.encode()))
    confirm, session_a = a.finish(Reply.decode(reply.encode()), doc_b)
    session_b = b.accept(Confirm.decode(confirm.encode()), doc_a)
    assert session_a.key == session_b.key and len(session_a.key) == suite.symmetric_key_size
    assert session_a.peer_did == "did:consortia:b" and session_b.peer_did == "did:consortia:a"
    # A second session has a fresh key.
    a2, b2 = Initiator(suite, "did:consortia:a", ka), Responder(suite, "did:consortia:b", kb)
    confirm2, s2 = a2.finish(b2.reply(a2.hello), doc_b)
    assert s2.key != session_a.key and b2.accept(confirm2, doc_a).key == s2.key


@pytest.mark.parametrize("suite_name", ["std", "sm"])
def test_handshake_refuses_impostors(suite_name: str):
    suite = get_suite(suite_name)
    ka, kb, mallory = suite.generate_keypair(), suite.generate_keypair(), suite.generate_keypair()
    doc_a, doc_b = _record(suite, "did:consortia:a", ka), _record(suite, "did:consortia:b", kb)
    # Mallory claims to be b but signs with her own key.
    a = Initiator(suite, "did:consortia:a", ka)
    with pytest.raises(AuthError, match="does not verify"):
        a.finish(Responder(suite, "did:consortia:b", mallory).reply(a.hello), doc_b)
    # A deactivated DID is refused even with the right key.
    dead = {**doc_b, "didDocumentMetadata": {**doc_b["didDocumentMetadata"], "deactivated": True}}
    a = Initiator(suite, "did:consortia:a", ka)
    with pytest.raises(AuthError, match="deactivated"):
        a.finish(Responder(suite, "did:consortia:b", kb).reply(a.hello), dead)
    # The initiator's confirmation must come from a's key; a key not listed for authentication is refused.
    a, b = Initiator(suite, "did:consortia:a", mallory), Responder(suite, "did:consortia:b", kb)
    confirm, _ = a.finish(b.reply(a.hello), doc_b)
    with pytest.raises(AuthError, match="does not verify"):
        b.accept(confirm, doc_a)
    with pytest.raises(AuthError, match="not an authentication key"):
        b.accept(Confirm("key-2", confirm.signature), doc_a)
    with pytest.raises(AuthError, match="the resolved document is for"):
        b.accept(confirm, doc_b)
    with pytest.raises(AuthError, match="malformed|exactly"):
        Hello.decode(b"\xc1garbage")
    with pytest.raises(AuthError, match="exactly"):
        Reply.decode(Hello("x", b"n", b"e").encode())
