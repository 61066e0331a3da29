"""Data-rights certificate helpers over the ``rights`` contract.

A sale (``buy``) is settled in points inside the buyer's transaction: the profit share goes to the
certificate's beneficiary, the rest to the seller's payout account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.sdk.contracts import Contract
from node.sdk.did import did_of


@dataclass
class Issue:
    """What ``issue`` needs (regulator only)."""

    template: str
    holder: str
    source: str
    scope: str
    profit_share_bp: int
    beneficiary: bytes
    price: int = 0
    expires_height: int = 0

    def to_args(self) -> dict[str, Any]:
        return {"template": self.template, "holder": did_of(self.holder), "source": self.source, "scope": self.scope,
                "profit_share_bp": self.profit_share_bp, "beneficiary": self.beneficiary, "price": self.price,
                "expires_height": self.expires_height}


class Rights:
    """The ``rights`` contract: every method of docs/contract-rights.md."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def create_template(self, template_id: str, name: str, rights_type: str, terms: str = "") -> None:
        await self.contract.call("create_template", {"id": template_id, "name": name, "rights_type": rights_type, "terms": terms})

    async def template(self, template_id: str) -> dict[str, Any] | None:
        return await self.contract.query("template", {"id": template_id})

    async def issue(self, spec: Issue) -> int:
        return int((await self.contract.call("issue", spec.to_args()))["id"])

    async def transfer(self, cert: int, to: str) -> dict[str, Any]:
        return dict(await self.contract.call("transfer", {"cert": cert, "to": did_of(to)}))

    async def list_for_sale(self, cert: int, price: int, payout: bytes | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"cert": cert, "price": price}
        if payout is not None:
            args["payout"] = payout
        return dict(await self.contract.call("list_for_sale", args))

    async def buy(self, cert: int, buyer: str) -> dict[str, Any]:
        return dict(await self.contract.call("buy", {"cert": cert, "buyer": did_of(buyer)}, fuel_limit=20_000_000))

    async def revoke(self, cert: int, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("revoke", {"cert": cert, "reason": reason}))

    async def certificate(self, cert: int) -> dict[str, Any] | None:
        return await self.contract.query("certificate", {"cert": cert})

    async def by_holder(self, holder: str, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(await self.contract.query("by_holder", {"holder": did_of(holder), "offset": offset, "limit": limit}))

    async def history(self, cert: int, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(await self.contract.query("history", {"cert": cert, "offset": offset, "limit": limit}))
