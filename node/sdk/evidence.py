"""Evidence (存证) helpers over the ``evidence`` contract: record hashes, look them up, follow a task.

The four evidence points of a collaboration task are recorded with the kinds in ``TASK_POINTS``;
``task_points`` shows which are on chain.
"""

from __future__ import annotations

from typing import Any

from node.crypto.base import CryptoSuite
from node.sdk.contracts import Contract

TASK_POINTS = ("task_config", "data_input", "compute_start", "compute_end", "result_receipt")


def evidence_hash(suite: CryptoSuite, data: bytes) -> bytes:
    """The hash to record for ``data``: the chain's own hash function (SM3 or SHA-256)."""
    return suite.hash(data)


class Evidence:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def record(self, hash: bytes, kind: str, *, metadata: Any = None, task_id: str | None = None) -> int:
        """Record ``hash``; returns its sequence number. Raises ContractError if already recorded."""
        args: dict[str, Any] = {"hash": hash, "kind": kind}
        if metadata is not None:
            args["metadata"] = metadata
        if task_id is not None:
            args["task_id"] = task_id
        out = await self.contract.call("record", args)
        return int(out["seq"])

    async def get(self, hash: bytes) -> dict[str, Any] | None:
        return await self.contract.query("get", {"hash": hash})

    async def exists(self, hash: bytes) -> bool:
        return bool(await self.contract.query("exists", {"hash": hash}))

    async def verify(self, hash: bytes, submitter: bytes | None = None) -> bool:
        args: dict[str, Any] = {"hash": hash}
        if submitter is not None:
            args["submitter"] = submitter
        return bool(await self.contract.query("verify", args))

    async def by_submitter(self, submitter: bytes, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return await self.contract.query("by_submitter", {"submitter": submitter, "offset": offset, "limit": limit})

    async def by_task(self, task_id: str, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return await self.contract.query("by_task", {"task_id": task_id, "offset": offset, "limit": limit})

    async def task_points(self, task_id: str) -> dict[str, Any]:
        return await self.contract.query("task_points", {"task_id": task_id})

    async def count(self) -> int:
        return int(await self.contract.query("count"))
