"""The catalog on the real runtime, calling the real DID contract: the five-step rights flow and its refusals."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from node.wire.types import STATUS_OK
from tests.unit.contract_chain import ContractChain


def _did_args(cc: ContractChain, did: str, who: str) -> dict:
    return {"did": did, "verification_methods": [{"id": "key-1", "type": "Ed25519VerificationKey2020",
                                                  "public_key": cc.keys[who].public_bytes}], "authentication": ["key-1"]}


DATASET = {"owner": "did:consortia:hospital", "name": "Outpatient visits", "schema": [{"name": "visits", "type": "int"}],
           "sample_hash": b"\x09" * 32, "category": "health", "level": 3, "share_mode": "compute",
           "access": "https://hospital.example/ds/1", "credential_schema": "org-license"}


@pytest.fixture
def flow(tmp_path: Path):
    cc = ContractChain.open(tmp_path, names=("hospital", "bank", "issuer", "provider"),
                            roles={"credential_issuer": ["issuer"], "algorithm_provider": ["provider"]})
    did = cc.deploy("did")
    catalog = cc.deploy("catalog", {"did": did})
    for name in ("hospital", "bank", "issuer"):
        cc.ok(name, did, "create", _did_args(cc, f"did:consortia:{name}", name))
    yield cc, did, catalog
    cc.close()


def test_catalog_needs_its_did_contract(tmp_path: Path):
    cc = ContractChain.open(tmp_path)
    catalog = cc.deploy("catalog")  # no init
    cc.refused("user", catalog, "register_dataset", DATASET, "not initialised")
    cc.close()


def test_five_step_rights_flow(flow):
    cc, did, catalog = flow
    # 1. DIDs are registered (fixture); the bank gets a licence credential from a registered issuer.
    cc.ok("issuer", did, "register_issuer", {"did": "did:consortia:issuer"})
    # 2. The hospital lists a dataset; the bank searches the catalog.
    cc.refused("bank", catalog, "register_dataset", DATASET, "does not control the active DID did:consortia:hospital")
    ds = cc.ok("hospital", catalog, "register_dataset", DATASET)["id"]
    found = cc.query(catalog, "search", {"category": "health", "level": 3})
    assert [d["id"] for d in found["items"]] == [ds]
    cc.ok("provider", catalog, "register_algorithm", {"id": "logreg", "code_hash": b"\x01" * 32, "compiler": "rustc 1.63"})
    # 3. The bank applies with its DID.
    req = {"dataset": ds, "requester": "did:consortia:bank", "purpose": "credit model", "algorithms": ["logreg"],
           "scope": "window", "until_height": cc.chain.height + 100, "quota": 2}
    cc.refused("hospital", catalog, "request_access", req, "does not control the active DID did:consortia:bank")
    auth = cc.ok("bank", catalog, "request_access", req)["id"]
    # 4. Only the owner authorizes.
    cc.refused("bank", catalog, "approve", {"auth": auth}, "does not control the active DID did:consortia:hospital")
    assert cc.ok("hospital", catalog, "approve", {"auth": auth})["status"] == "approved"
    # 5. Fetch: the credential is checked at that moment, through the DID contract.
    cc.refused("bank", catalog, "use", {"auth": auth, "algorithm": "logreg"}, "holds no valid 'org-license' credential")
    cc.ok("issuer", did, "issue_credential", {"hash": b"\x44" * 32, "issuer": "did:consortia:issuer",
                                              "subject": "did:consortia:bank", "schema": "org-license"})
    receipt = cc.send("bank", catalog, "use", {"auth": auth, "algorithm": "logreg"})
    assert receipt.status == STATUS_OK, receipt.error
    out = msgpack.unpackb(receipt.return_value)
    assert out["access"] == DATASET["access"] and out["remaining"] == 1
    used = [e for e in receipt.events if e.name == "AuthorizationUsed"]
    assert len(used) == 1 and used[0].contract == catalog
    assert msgpack.unpackb(used[0].data)["requester"] == "did:consortia:bank"
    cc.ok("bank", catalog, "use", {"auth": auth})
    # Over the quota: refused, nothing changes.
    cc.refused("bank", catalog, "use", {"auth": auth}, "quota exceeded")
    assert cc.query(catalog, "authorization", {"auth": auth})["used"] == 2
    assert cc.query(catalog, "uses", {"auth": auth})["total"] == 2
    # A revoked credential stops further fetches on a new authorization.
    auth2 = cc.ok("bank", catalog, "request_access", {**req, "quota": 5})["id"]
    cc.ok("hospital", catalog, "approve", {"auth": auth2})
    cc.ok("issuer", did, "revoke_credential", {"hash": b"\x44" * 32})
    cc.refused("bank", catalog, "use", {"auth": auth2}, "no valid 'org-license' credential")


def test_updates_keep_versions_and_refusals_change_nothing(flow):
    cc, did, catalog = flow
    ds = cc.ok("hospital", catalog, "register_dataset", {**DATASET, "credential_schema": ""})["id"]
    cc.refused("bank", catalog, "update_dataset", {"id": ds, "level": 5}, "does not control")
    assert cc.ok("hospital", catalog, "update_dataset", {"id": ds, "level": 5})["version"] == 2
    assert cc.query(catalog, "dataset", {"id": ds, "version": 1})["level"] == 3
    assert cc.query(catalog, "dataset", {"id": ds})["level"] == 5
    cc.refused("hospital", catalog, "update_dataset", {"id": ds, "level": 0}, "level must be 1 to 5")
    cc.refused("hospital", catalog, "update_dataset", {"id": ds, "owner": "did:consortia:bank"}, "cannot change")
    assert cc.query(catalog, "dataset", {"id": ds})["version"] == 2
    cc.ok("hospital", did, "deactivate", {"did": "did:consortia:hospital"})
    cc.refused("hospital", catalog, "update_dataset", {"id": ds, "level": 4}, "does not control the active DID")


@pytest.mark.parametrize("method, args, message", [
    ("register_dataset", {**DATASET, "schema": "x"}, "must be an array"),
    ("register_dataset", {**DATASET, "level": -1}, "non-negative integer"),
    ("request_access", {"dataset": "1"}, "must be a non-negative integer"),
    ("use", {}, "missing argument 'auth'"),
    ("use", {"auth": 77}, "authorization 77 not found"),
    ("approve", {"auth": 1}, "authorization 1 not found"),
    ("search", {"limit": 1000}, "limit must be 1 to 100"),
    ("nope", {}, "unknown method"),
])
def test_malformed_calls_revert_cleanly(flow, method: str, args: dict, message: str):
    cc, did, catalog = flow
    cc.refused("bank", catalog, method, args, message)
