"""Data-rights certificates on the real runtime: issuance by role, sale settled in points with a profit share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.contract_chain import ContractChain
from tests.unit.test_contract_catalog import _did_args


@pytest.fixture
def rights(tmp_path: Path):
    cc = ContractChain.open(tmp_path, names=("hospital", "bank", "regulator", "fund"), roles={"regulator": ["regulator"]})
    did = cc.deploy("did")
    catalog = cc.deploy("catalog", {"did": did})
    points = cc.deploy("points", {"catalog": catalog})
    rights = cc.deploy("rights", {"did": did, "points": points})
    cc.refused("bank", points, "add_settler", {"contract": rights}, "only the account that deployed")
    cc.ok("admin", points, "add_settler", {"contract": rights})
    for name in ("hospital", "bank"):
        cc.ok(name, did, "create", _did_args(cc, f"did:consortia:{name}", name))
    cc.ok("regulator", points, "mint", {"to": cc.address("bank"), "amount": 300})
    cc.ok("regulator", rights, "create_template", {"id": "usage", "name": "Usage right", "rights_type": "usage"})
    cert = cc.ok("regulator", rights, "issue", {"template": "usage", "holder": "did:consortia:hospital", "source": "dataset 1",
                                                 "scope": "credit scoring", "profit_share_bp": 2500,
                                                 "beneficiary": cc.address("fund")})["id"]
    yield cc, points, rights, cert
    cc.close()


def _balance(cc: ContractChain, points: bytes, who: str) -> int:
    return cc.query(points, "balance", {"account": cc.address(who)})


def test_sale_is_settled_in_points_with_the_profit_share(rights):
    cc, points, contract, cert = rights
    cc.refused("bank", contract, "issue", {"template": "usage", "holder": "did:consortia:bank", "source": "s", "scope": "s",
                                           "profit_share_bp": 0, "beneficiary": cc.address("bank")}, "only a regulator")
    cc.refused("bank", contract, "list_for_sale", {"cert": cert, "price": 200}, "does not control")
    cc.ok("hospital", contract, "list_for_sale", {"cert": cert, "price": 200})
    cc.refused("bank", points, "settle", {"payee": cc.address("bank"), "amount": 1, "ref": "x"}, "only a settler contract")
    out = cc.ok("bank", contract, "buy", {"cert": cert, "buyer": "did:consortia:bank"})
    assert out["holder"] == "did:consortia:bank"
    assert (_balance(cc, points, "bank"), _balance(cc, points, "fund"), _balance(cc, points, "hospital")) == (100, 50, 150)
    trail = cc.query(contract, "history", {"cert": cert})["items"]
    assert [e["action"] for e in trail] == ["issued", "listed", "sold"] and trail[2]["profit_share"] == 50
    # A second sale the buyer cannot pay for changes nothing.
    cc.ok("bank", contract, "list_for_sale", {"cert": cert, "price": 500})
    cc.refused("hospital", contract, "buy", {"cert": cert, "buyer": "did:consortia:hospital"}, "points: insufficient points")
    assert cc.query(contract, "certificate", {"cert": cert})["holder"] == "did:consortia:bank"


def test_transfer_and_revocation(rights):
    cc, points, contract, cert = rights
    cc.refused("bank", contract, "transfer", {"cert": cert, "to": "did:consortia:bank"}, "does not control")
    cc.ok("hospital", contract, "transfer", {"cert": cert, "to": "did:consortia:bank"})
    assert [c["id"] for c in cc.query(contract, "by_holder", {"holder": "did:consortia:bank"})["items"]] == [cert]
    cc.refused("bank", contract, "revoke", {"cert": cert}, "only a regulator")
    cc.ok("regulator", contract, "revoke", {"cert": cert, "reason": "source withdrawn"})
    cc.refused("bank", contract, "transfer", {"cert": cert, "to": "did:consortia:hospital"}, "is revoked")
    cc.refused("bank", contract, "buy", {"cert": 99, "buyer": "did:consortia:bank"}, "certificate 99 not found")
