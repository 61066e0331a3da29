"""Catalog helpers over the ``catalog`` contract: datasets, algorithms, authorizations and uses.

The five-step rights flow from Python: ``Did.create`` → ``Catalog.search`` → ``request_access``
→ the owner's ``approve`` → ``fetch`` (the contract's ``use``), which returns where to get the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.sdk.contracts import Contract
from node.sdk.did import did_of


@dataclass
class Field:
    name: str
    type: str
    length: int | None = None

    def to_args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.length is not None:
            out["length"] = self.length
        return out


@dataclass
class Dataset:
    """What ``register_dataset`` needs; ``owner`` is a DID the signer controls."""

    owner: str
    name: str
    schema: list[Field]
    sample_hash: bytes
    category: str
    level: int
    share_mode: str
    access: str
    description: str = ""
    share_rule: str = ""
    credential_schema: str = ""
    price: int = 0

    def to_args(self) -> dict[str, Any]:
        return {"owner": did_of(self.owner), "name": self.name, "description": self.description,
                "schema": [f.to_args() for f in self.schema], "sample_hash": self.sample_hash, "category": self.category,
                "level": self.level, "share_mode": self.share_mode, "share_rule": self.share_rule, "access": self.access,
                "credential_schema": self.credential_schema, "price": self.price}


@dataclass
class AccessRequest:
    """What ``request_access`` needs: scope ``window`` (with ``until_height``) or ``task`` (with ``task_id``)."""

    dataset: int
    requester: str
    purpose: str
    quota: int
    scope: str = "window"
    until_height: int = 0
    task_id: str | None = None
    algorithms: list[str] = field(default_factory=list)

    def to_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"dataset": self.dataset, "requester": did_of(self.requester), "purpose": self.purpose,
                                "quota": self.quota, "scope": self.scope, "algorithms": self.algorithms}
        if self.until_height:
            args["until_height"] = self.until_height
        if self.task_id is not None:
            args["task_id"] = self.task_id
        return args


class Catalog:
    """The ``catalog`` contract: every method of docs/contract-catalog.md."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def register_dataset(self, dataset: Dataset) -> int:
        return int((await self.contract.call("register_dataset", dataset.to_args()))["id"])

    async def update_dataset(self, dataset_id: int, **fields: Any) -> int:
        """Change any descriptive field (or ``active``, ``payout``); returns the new version."""
        if "schema" in fields:
            fields["schema"] = [f.to_args() if isinstance(f, Field) else f for f in fields["schema"]]
        return int((await self.contract.call("update_dataset", {"id": dataset_id, **fields}))["version"])

    async def dataset(self, dataset_id: int, version: int | None = None) -> dict[str, Any] | None:
        args: dict[str, Any] = {"id": dataset_id}
        if version is not None:
            args["version"] = version
        return await self.contract.query("dataset", args)

    async def search(self, *, owner: str | None = None, category: str | None = None, level: int | None = None,
                     active_only: bool = True, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """``{items, next, total}``; pass ``next`` as ``offset`` to continue."""
        args: dict[str, Any] = {"active_only": active_only, "offset": offset, "limit": limit}
        if owner is not None:
            args["owner"] = did_of(owner)
        if category is not None:
            args["category"] = category
        if level is not None:
            args["level"] = level
        return dict(await self.contract.query("search", args))

    async def register_algorithm(self, algorithm_id: str, code_hash: bytes, compiler: str, parameters: Any = None,
                                 description: str = "") -> None:
        await self.contract.call("register_algorithm", {"id": algorithm_id, "code_hash": code_hash, "compiler": compiler,
                                                        "parameters": parameters, "description": description})

    async def algorithm(self, algorithm_id: str) -> dict[str, Any] | None:
        return await self.contract.query("algorithm", {"id": algorithm_id})

    async def algorithms(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(await self.contract.query("algorithms", {"offset": offset, "limit": limit}))

    async def request_access(self, request: AccessRequest) -> int:
        return int((await self.contract.call("request_access", request.to_args()))["id"])

    async def approve(self, auth: int, *, quota: int | None = None, until_height: int | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"auth": auth}
        if quota is not None:
            args["quota"] = quota
        if until_height is not None:
            args["until_height"] = until_height
        return dict(await self.contract.call("approve", args))

    async def reject(self, auth: int, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("reject", {"auth": auth, "reason": reason}))

    async def revoke(self, auth: int, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("revoke", {"auth": auth, "reason": reason}))

    async def fetch(self, auth: int, *, algorithm: str | None = None, task_id: str | None = None,
                    purpose: str | None = None) -> dict[str, Any]:
        """Use the authorization once: ``{use, remaining, dataset, version, access, price, payout}``."""
        args: dict[str, Any] = {"auth": auth}
        for name, value in (("algorithm", algorithm), ("task_id", task_id), ("purpose", purpose)):
            if value is not None:
                args[name] = value
        return dict(await self.contract.call("use", args))

    async def authorization(self, auth: int) -> dict[str, Any] | None:
        return await self.contract.query("authorization", {"auth": auth})

    async def authorizations(self, *, dataset: int | None = None, requester: str | None = None, owner: str | None = None,
                             offset: int = 0, limit: int = 100) -> dict[str, Any]:
        args: dict[str, Any] = {"offset": offset, "limit": limit}
        if dataset is not None:
            args["dataset"] = dataset
        if requester is not None:
            args["requester"] = did_of(requester)
        if owner is not None:
            args["owner"] = did_of(owner)
        return dict(await self.contract.query("authorizations", args))

    async def uses(self, auth: int | None = None, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        args: dict[str, Any] = {"offset": offset, "limit": limit}
        if auth is not None:
            args["auth"] = auth
        return dict(await self.contract.query("uses", args))
