"""Points helpers over the ``points`` contract: ledger, escrow, scores, ratings and rankings.

Pay-per-use is not called from here: the catalog's ``use`` settles it with the points contract
in the same transaction (``Catalog.fetch``).
"""

from __future__ import annotations

from typing import Any

from node.sdk.contracts import Contract


class Points:
    """The ``points`` contract: every method of docs/contract-points.md."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def mint(self, to: bytes, amount: int, memo: str = "") -> int:
        """Regulator only; returns the new balance of ``to``."""
        return int((await self.contract.call("mint", {"to": to, "amount": amount, "memo": memo}))["balance"])

    async def transfer(self, to: bytes, amount: int, memo: str = "") -> int:
        return int((await self.contract.call("transfer", {"to": to, "amount": amount, "memo": memo}))["balance"])

    async def balance(self, account: bytes) -> int:
        return int(await self.contract.query("balance", {"account": account}))

    async def supply(self) -> int:
        return int(await self.contract.query("supply"))

    async def escrow_lock(self, payee: bytes, amount: int, timeout_height: int, ref: str = "") -> int:
        out = await self.contract.call("escrow_lock", {"payee": payee, "amount": amount, "timeout_height": timeout_height, "ref": ref})
        return int(out["id"])

    async def escrow_deliver(self, escrow_id: int, hash: bytes) -> dict[str, Any]:
        return dict(await self.contract.call("escrow_deliver", {"id": escrow_id, "hash": hash}))

    async def escrow_confirm(self, escrow_id: int, hash: bytes) -> dict[str, Any]:
        return dict(await self.contract.call("escrow_confirm", {"id": escrow_id, "hash": hash}))

    async def escrow_refund(self, escrow_id: int, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("escrow_refund", {"id": escrow_id, "reason": reason}))

    async def escrow(self, escrow_id: int) -> dict[str, Any] | None:
        return await self.contract.query("escrow", {"id": escrow_id})

    async def record_contribution(self, account: bytes, **counts: int) -> dict[str, Any]:
        """Regulator only: data_volume, dimensions, model_share_bp, participations."""
        return dict(await self.contract.call("record_contribution", {"account": account, **counts}))

    async def record_consumption(self, account: bytes, **counts: int) -> dict[str, Any]:
        """Regulator only: queries, task_rounds."""
        return dict(await self.contract.call("record_consumption", {"account": account, **counts}))

    async def scores(self, account: bytes) -> dict[str, Any]:
        return dict(await self.contract.query("scores", {"account": account}))

    async def rate(self, dataset: int, score: int) -> dict[str, Any]:
        return dict(await self.contract.call("rate", {"dataset": dataset, "score": score}))

    async def rating(self, dataset: int) -> dict[str, Any]:
        return dict(await self.contract.query("rating", {"dataset": dataset}))

    async def ranking(self, by: str = "rating", limit: int = 10) -> list[dict[str, Any]]:
        return list(await self.contract.query("ranking", {"by": by, "limit": limit}))
