"""Points on the real runtime: minting by role, pay-per-use through the catalog in one transaction, escrow."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from node.wire.types import STATUS_OK
from tests.unit.contract_chain import ContractChain
from tests.unit.test_contract_catalog import DATASET, _did_args


@pytest.fixture
def market(tmp_path: Path):
    cc = ContractChain.open(tmp_path, names=("hospital", "bank", "regulator"), roles={"regulator": ["regulator"]})
    did = cc.deploy("did")
    catalog = cc.deploy("catalog", {"did": did})
    points = cc.deploy("points", {"catalog": catalog})
    cc.refused("bank", catalog, "link_points", {"points": points}, "only the account that deployed")
    cc.ok("admin", catalog, "link_points", {"points": points})
    for name in ("hospital", "bank"):
        cc.ok(name, did, "create", _did_args(cc, f"did:consortia:{name}", name))
    yield cc, catalog, points
    cc.close()


def _balance(cc: ContractChain, points: bytes, who: str) -> int:
    return cc.query(points, "balance", {"account": cc.address(who)})


def test_pay_per_use_settles_in_the_same_transaction(market):
    cc, catalog, points = market
    cc.refused("bank", points, "mint", {"to": cc.address("bank"), "amount": 100}, "only a regulator")
    cc.ok("regulator", points, "mint", {"to": cc.address("bank"), "amount": 12})
    ds = cc.ok("hospital", catalog, "register_dataset", {**DATASET, "credential_schema": "", "price": 5})["id"]
    auth = cc.ok("bank", catalog, "request_access", {"dataset": ds, "requester": "did:consortia:bank", "purpose": "p",
                                                      "scope": "window", "until_height": cc.chain.height + 100, "quota": 3})["id"]
    cc.ok("hospital", catalog, "approve", {"auth": auth})
    receipt = cc.send("bank", catalog, "use", {"auth": auth})
    assert receipt.status == STATUS_OK, receipt.error
    assert [(e.contract, e.name) for e in receipt.events] == [(points, "UseSettled"), (catalog, "AuthorizationUsed")]
    cc.ok("bank", catalog, "use", {"auth": auth})
    assert (_balance(cc, points, "bank"), _balance(cc, points, "hospital")) == (2, 10)
    # The third use cannot be paid: neither the use nor any payment happens.
    cc.refused("bank", catalog, "use", {"auth": auth}, "points: insufficient points")
    assert cc.query(catalog, "authorization", {"auth": auth})["used"] == 2
    assert (_balance(cc, points, "bank"), _balance(cc, points, "hospital")) == (2, 10)
    # Only the catalog settles uses; users who used the dataset may rate it.
    cc.refused("bank", points, "charge_use", {"payer": cc.address("hospital"), "payee": cc.address("bank"), "amount": 1,
                                              "auth": 1, "use": 1, "dataset": 1}, "only the catalog")
    assert cc.ok("bank", points, "rate", {"dataset": ds, "score": 4})["average_x100"] == 400
    cc.refused("hospital", points, "rate", {"dataset": ds, "score": 1}, "only an account that used")
    assert cc.query(points, "ranking", {"by": "uses"})[0]["uses"] == 2
    assert cc.query(points, "scores", {"account": cc.address("bank")})["consumption"]["queries"] == 2


def test_escrow_release_and_refund(market):
    cc, catalog, points = market
    cc.ok("regulator", points, "mint", {"to": cc.address("bank"), "amount": 50})
    h = cc.chain.height
    a = cc.ok("bank", points, "escrow_lock", {"payee": cc.address("hospital"), "amount": 20, "timeout_height": h + 100})["id"]
    b = cc.ok("bank", points, "escrow_lock", {"payee": cc.address("hospital"), "amount": 30, "timeout_height": h + 9})["id"]
    assert _balance(cc, points, "bank") == 0
    cc.ok("hospital", points, "escrow_deliver", {"id": a, "hash": b"\x01" * 32})
    cc.refused("bank", points, "escrow_confirm", {"id": a, "hash": b"\x02" * 32}, "does not match the delivered hash")
    cc.ok("bank", points, "escrow_confirm", {"id": a, "hash": b"\x01" * 32})
    assert _balance(cc, points, "hospital") == 20
    cc.refused("bank", points, "escrow_refund", {"id": b}, "only after height")
    while cc.chain.height <= h + 9:
        cc.ok("bank", points, "balance", {"account": cc.address("bank")})
    out = cc.ok("bank", points, "escrow_refund", {"id": b, "reason": "no result"})
    assert out["state"] == "refunded" and _balance(cc, points, "bank") == 30
    assert msgpack.unpackb(cc.chain.query(points, "escrow", msgpack.packb({"id": a})))["state"] == "released"
