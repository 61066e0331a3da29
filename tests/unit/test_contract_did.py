"""The DID contract on the real runtime: documents, the has_role host call, issuers and credentials."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import msgpack
import pytest
import wasmtime

from node.vm.abi import HOST_FUNCTIONS
from node.wire.types import STATUS_OK
from tests.unit.contract_chain import ContractChain
from tests.unit.test_chain import seal


def _doc_args(cc: ContractChain, did: str, who: str) -> dict:
    key = cc.keys[who].public_bytes
    kind = "Ed25519VerificationKey2020" if cc.net.suite.name == "std" else "SM2VerificationKey"
    return {"did": did, "verification_methods": [{"id": "key-1", "type": kind, "public_key": key}],
            "authentication": ["key-1"],
            "services": [{"id": "worker", "type": "PrivacyWorker", "endpoint": "https://org.example/worker"}]}


@pytest.fixture
def cc(tmp_path: Path):
    c = ContractChain.open(tmp_path, names=("issuer", "bank", "regulator"),
                           roles={"credential_issuer": ["issuer"], "regulator": ["regulator"]})
    yield c
    c.close()


def test_has_role_is_part_of_the_abi():
    assert HOST_FUNCTIONS["has_role"].params == ("i32", "i32", "i32") and HOST_FUNCTIONS["has_role"].results == ("i32",)


@pytest.mark.parametrize("suite", ["std", "sm"])
def test_document_lifecycle_on_the_runtime(tmp_path: Path, suite: str):
    cc = ContractChain.open(tmp_path, suite, names=("bank",))
    did = cc.deploy("did")
    out = cc.ok("bank", did, "create", _doc_args(cc, "did:consortia:bank", "bank"))
    assert out == {"did": "did:consortia:bank", "version": 1}
    doc = cc.query(did, "resolve", {"did": "did:consortia:bank"})
    assert doc["controller"] == cc.address("bank") and doc["verification_methods"][0]["public_key"] == cc.keys["bank"].public_bytes
    cc.refused("user", did, "update", {"did": "did:consortia:bank", "services": []}, "only the controller")
    cc.refused("bank", did, "create", _doc_args(cc, "did:consortia:bank", "bank"), "already exists")
    assert cc.ok("bank", did, "update", {"did": "did:consortia:bank", "services": []})["version"] == 2
    assert cc.query(did, "controls", {"did": "did:consortia:bank", "address": cc.address("bank")}) is True
    cc.ok("bank", did, "deactivate", {"did": "did:consortia:bank"})
    assert cc.query(did, "resolve", {"did": "did:consortia:bank"})["deactivated"] is True
    assert cc.query(did, "controls", {"did": "did:consortia:bank", "address": cc.address("bank")}) is False
    cc.close()


def test_issuers_need_the_role_from_genesis(cc: ContractChain):
    did = cc.deploy("did")
    cc.ok("issuer", did, "create", _doc_args(cc, "did:consortia:ca", "issuer"))
    cc.ok("bank", did, "create", _doc_args(cc, "did:consortia:bank", "bank"))
    cc.ok("user", did, "create", _doc_args(cc, "did:consortia:user", "user"))
    cc.refused("user", did, "register_issuer", {"did": "did:consortia:user"}, "does not hold the credential_issuer role")
    cc.ok("issuer", did, "register_issuer", {"did": "did:consortia:ca", "name": "CA"})
    cred = {"hash": b"\x11" * 32, "issuer": "did:consortia:ca", "subject": "did:consortia:bank", "schema": "org-license"}
    cc.refused("bank", did, "issue_credential", cred, "only the controller")
    cc.ok("issuer", did, "issue_credential", cred)
    assert cc.query(did, "credential_status", {"hash": b"\x11" * 32})["status"] == "valid"
    assert cc.query(did, "has_valid_credential", {"subject": "did:consortia:bank", "schema": "org-license"}) is True
    cc.refused("bank", did, "revoke_credential", {"hash": b"\x11" * 32}, "only the issuer's controller or a regulator")
    cc.ok("regulator", did, "revoke_credential", {"hash": b"\x11" * 32, "reason": "audit"})
    assert cc.query(did, "credential_status", {"hash": b"\x11" * 32})["status"] == "revoked"
    assert cc.query(did, "has_valid_credential", {"subject": "did:consortia:bank"}) is False


def test_expiry_follows_the_block_clock(cc: ContractChain):
    did = cc.deploy("did")
    cc.ok("issuer", did, "create", _doc_args(cc, "did:consortia:ca", "issuer"))
    cc.ok("issuer", did, "register_issuer", {"did": "did:consortia:ca"})
    now = cc.chain.head().timestamp_ms
    cc.refused("issuer", did, "issue_credential", {"hash": b"\x22" * 32, "issuer": "did:consortia:ca",
                                                   "subject": "did:consortia:ca", "schema": "s", "expires_ms": now}, "not after")
    cc.ok("issuer", did, "issue_credential", {"hash": b"\x22" * 32, "issuer": "did:consortia:ca",
                                              "subject": "did:consortia:ca", "schema": "s", "expires_ms": now + 3})
    assert cc.query(did, "credential_status", {"hash": b"\x22" * 32})["status"] == "valid"
    cc.ok("issuer", did, "update", {"did": "did:consortia:ca", "services": []})
    cc.ok("issuer", did, "update", {"did": "did:consortia:ca", "services": []})
    assert cc.query(did, "credential_status", {"hash": b"\x22" * 32})["status"] == "expired"


@pytest.mark.parametrize("args, message", [
    ({}, "missing argument 'did'"),
    ({"did": "did:consortia:x", "verification_methods": "nope"}, "must be an array"),
    ({"did": "did:consortia:x", "verification_methods": [{"id": "k", "type": "Ed25519VerificationKey2020", "public_key": b"1"}],
      "authentication": ["k"]}, "is 32 bytes"),
    ({"did": "did:consortia:" + "x" * 65}, "1 to 64 characters"),
    ({"did": 7}, "must be a string"),
])
def test_malformed_arguments_revert_without_trapping(cc: ContractChain, args: dict, message: str):
    did = cc.deploy("did")
    cc.refused("user", did, "create", args, message)
    assert cc.query(did, "count") == 0


# Asks has_role(<role from args[20:]>, <address args[0:20]>) and returns the i32 answer as one byte.
HAS_ROLE = '''(module
  (import "consortia" "read_args" (func $read_args (param i32 i32) (result i32)))
  (import "consortia" "set_return" (func $set_return (param i32 i32)))
  (import "consortia" "has_role" (func $has_role (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "call") (local $len i32)
    (local.set $len (call $read_args (i32.const 0) (i32.const 256)))
    (i32.store8 (i32.const 512) (call $has_role (i32.const 20) (i32.sub (local.get $len) (i32.const 20)) (i32.const 0)))
    (call $set_return (i32.const 512) (i32.const 1))))'''


def test_has_role_host_call_reads_the_acl(cc: ContractChain):
    receipt = cc.send("admin", b"", "deploy", {"code": wasmtime.wat2wasm(HAS_ROLE)}, fuel=50_000_000)
    probe = msgpack.unpackb(receipt.return_value)["address"]

    def ask(who: str, role: bytes):
        tx = cc.net.tx(cc.keys["user"], to=probe, method="run", fuel_limit=1_000_000, expiry_height=cc.chain.height + 50)
        tx = replace(tx, args=cc.address(who) + role, signature=b"")
        tx = replace(tx, signature=cc.net.suite.sign(cc.keys["user"].private_bytes, tx.signing_bytes()))
        cc.chain.submit(tx.encode())
        block = seal(cc.chain, cc.net.validator)
        return cc.chain.store.receipts_at(block.header.height)[-1]

    yes = ask("regulator", b"regulator")
    assert yes.status == STATUS_OK and yes.return_value == b"\x01"
    assert ask("bank", b"regulator").return_value == b"\x00"
    assert ask("issuer", b"credential_issuer").return_value == b"\x01"
    bad = ask("bank", b"emperor")
    assert bad.status != STATUS_OK and "unknown role 'emperor'" in bad.error
    assert "role name must be 1 to 64 bytes" in ask("bank", b"x" * 65).error
