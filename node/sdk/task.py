"""Collaboration-task helpers over the ``task`` contract.

``commitment`` makes the salted hash a participant acknowledges a phase with; the salt stays
with the participant until it chooses to reveal it (``verify_commitment``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from node.crypto.base import CryptoSuite
from node.sdk.contracts import Contract
from node.sdk.did import did_of

PHASES = ("prepare", "align", "compute", "cleanup")


def commitment(suite: CryptoSuite, value: bytes, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """``(H(salt ‖ value), salt)`` with the chain hash and a fresh 16-byte salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return suite.hash(salt + value), salt


@dataclass
class TaskSpec:
    """What ``create`` needs; the initiator must be the requester of every authorization in ``datasets``."""

    id: str
    initiator: str
    participants: list[str]
    receivers: list[str]
    datasets: list[int]
    algorithm: str
    purpose: str
    steps: list[dict[str, Any]] = field(default_factory=lambda: [{"id": "run"}])
    parameters: Any = None

    def to_args(self) -> dict[str, Any]:
        return {"id": self.id, "initiator": did_of(self.initiator), "participants": [did_of(p) for p in self.participants],
                "receivers": [did_of(r) for r in self.receivers], "datasets": self.datasets, "algorithm": self.algorithm,
                "purpose": self.purpose, "steps": self.steps, "parameters": self.parameters}


class Task:
    """The ``task`` contract: every method of docs/contract-task.md."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def create(self, spec: TaskSpec) -> str:
        return str((await self.contract.call("create", spec.to_args(), fuel_limit=50_000_000))["id"])

    async def get(self, task_id: str) -> dict[str, Any] | None:
        return await self.contract.query("task", {"id": task_id})

    async def ack(self, task_id: str, participant: str, phase: str, commitment: bytes | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"task": task_id, "participant": did_of(participant), "phase": phase}
        if commitment is not None:
            args["commitment"] = commitment
        return dict(await self.contract.call("ack", args, fuel_limit=50_000_000))

    async def receive(self, task_id: str, receiver: str, commitment: bytes) -> dict[str, Any]:
        return dict(await self.contract.call("receive", {"task": task_id, "receiver": did_of(receiver), "commitment": commitment},
                                             fuel_limit=50_000_000))

    async def fail(self, task_id: str, participant: str, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("fail", {"task": task_id, "participant": did_of(participant), "reason": reason}))

    async def terminate(self, task_id: str, reason: str = "") -> dict[str, Any]:
        return dict(await self.contract.call("terminate", {"task": task_id, "reason": reason}))

    async def verify_commitment(self, task_id: str, phase: str, participant: str, salt: bytes, value: bytes) -> bool:
        return bool(await self.contract.query("verify_commitment", {"task": task_id, "phase": phase,
                                                                     "participant": did_of(participant), "salt": salt, "value": value}))
