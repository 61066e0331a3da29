"""Collaboration tasks on the real runtime with the real DID, catalog and evidence contracts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.contract_chain import ContractChain
from tests.unit.test_contract_catalog import DATASET, _did_args

B, H = "did:consortia:bank", "did:consortia:hospital"
PHASES = ("prepare", "align", "compute", "cleanup")


@pytest.fixture
def lab(tmp_path: Path):
    cc = ContractChain.open(tmp_path, names=("hospital", "bank", "provider"), roles={"algorithm_provider": ["provider"]})
    evidence = cc.deploy("evidence")
    did = cc.deploy("did")
    catalog = cc.deploy("catalog", {"did": did})
    task = cc.deploy("task", {"did": did, "catalog": catalog, "evidence": evidence})
    cc.ok("admin", catalog, "link_task", {"task": task})
    for name in ("hospital", "bank"):
        cc.ok(name, did, "create", _did_args(cc, f"did:consortia:{name}", name))
    cc.ok("provider", catalog, "register_algorithm", {"id": "logreg", "code_hash": b"\x01" * 32, "compiler": "rustc"})
    ds = cc.ok("hospital", catalog, "register_dataset", {**DATASET, "credential_schema": ""})["id"]
    auth = cc.ok("bank", catalog, "request_access", {"dataset": ds, "requester": B, "purpose": "credit model",
                                                      "algorithms": ["logreg"], "scope": "task", "task_id": "t1", "quota": 1})["id"]
    cc.ok("hospital", catalog, "approve", {"auth": auth})
    yield cc, evidence, catalog, task, auth
    cc.close()


def _spec(task_id: str, auth: int) -> dict:
    return {"id": task_id, "initiator": B, "participants": [B, H], "receivers": [B], "datasets": [auth],
            "algorithm": "logreg", "purpose": "credit model", "parameters": {"rounds": 5},
            "steps": [{"id": "psi"}, {"id": "train", "deps": ["psi"]}]}


def test_task_through_all_phases_with_its_evidence(lab):
    cc, evidence, catalog, task, auth = lab
    cc.refused("hospital", task, "create", _spec("t1", auth), "does not control the active DID did:consortia:bank")
    cc.ok("bank", task, "create", _spec("t1", auth))
    use = cc.query(catalog, "uses", {"auth": auth})["items"][0]
    assert use["task_id"] == "t1" and use["via"] == task and use["caller"] == cc.address("bank")
    assert cc.query(catalog, "authorization", {"auth": auth})["status"] == "consumed"
    for phase in PHASES:
        cc.refused("hospital", task, "ack", {"task": "t1", "participant": B, "phase": phase, "commitment": b"\x05" * 32},
                   "does not control")
        cc.ok("bank", task, "ack", {"task": "t1", "participant": B, "phase": phase, "commitment": b"\x05" * 32})
        cc.ok("hospital", task, "ack", {"task": "t1", "participant": H, "phase": phase, "commitment": b"\x06" * 32})
    cc.refused("hospital", task, "receive", {"task": "t1", "receiver": H, "commitment": b"\x07" * 32}, "not a named receiver")
    out = cc.ok("bank", task, "receive", {"task": "t1", "receiver": B, "commitment": b"\x07" * 32})
    assert out["state"] == "succeeded"
    points = cc.query(evidence, "task_points", {"task_id": "t1"})
    assert points["complete"] is True
    assert {k: v for k, v in points["points"].items()} == out["evidence"]
    assert cc.query(evidence, "by_task", {"task_id": "t1"})["total"] == 5
    assert all(cc.query(evidence, "verify", {"hash": h, "submitter": task}) for h in out["evidence"].values())


def test_evidence_filed_by_others_under_the_task_id_does_not_count(lab):
    cc, evidence, catalog, task, auth = lab
    cc.ok("bank", task, "create", _spec("t1", auth))
    # Someone files records of every kind under t1 first: the evidence contract's task_points is then
    # complete, but the task still writes and checks its own records.
    for i, kind in enumerate(("data_input", "compute_start", "compute_end", "result_receipt")):
        cc.ok("hospital", evidence, "record", {"hash": bytes([i + 1]) * 32, "kind": kind, "task_id": "t1"})
    assert cc.query(evidence, "task_points", {"task_id": "t1"})["complete"] is True
    assert cc.query(task, "task", {"id": "t1"})["state"] == "running"
    for phase in PHASES:
        for who, did in (("bank", B), ("hospital", H)):
            cc.ok(who, task, "ack", {"task": "t1", "participant": did, "phase": phase, "commitment": b"\x05" * 32})
    out = cc.ok("bank", task, "receive", {"task": "t1", "receiver": B, "commitment": b"\x07" * 32})
    assert out["state"] == "succeeded" and len(out["evidence"]) == 5


def test_used_authorizations_and_failures(lab):
    cc, evidence, catalog, task, auth = lab
    cc.refused("bank", task, "create", _spec("t2", auth), "catalog: authorization 1 is for task 't1' only")
    cc.ok("bank", task, "create", _spec("t1", auth))
    cc.refused("bank", task, "create", {**_spec("t1", auth)}, "already exists")
    cc.ok("hospital", task, "fail", {"task": "t1", "participant": H, "reason": "worker crashed"})
    cc.refused("bank", task, "ack", {"task": "t1", "participant": B, "phase": "prepare", "commitment": b"\x05" * 32},
               "task 't1' is failed")
    assert cc.query(evidence, "task_points", {"task_id": "t1"})["complete"] is False
