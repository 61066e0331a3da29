"""DID helpers over the ``did`` contract: documents, issuers, credentials, W3C resolution.

``verification_method`` makes the entry for a chain key (Ed25519 on ``std``, SM2 on ``sm``), so
an institution's DID carries the same key it signs transactions with; ``didauth`` uses these keys
for off-chain mutual authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.crypto.base import CryptoSuite
from node.errors import ConsortiaError
from node.sdk.contracts import Contract
from node.wire.diddoc import DID_PREFIX, to_document

SIGNING_TYPES = {"std": "Ed25519VerificationKey2020", "sm": "SM2VerificationKey"}
AGREEMENT_TYPES = {"std": "X25519KeyAgreementKey2020", "sm": "SM2KeyAgreementKey"}


def did_of(method_specific_id: str) -> str:
    """``did:consortia:<id>`` (a full DID is returned unchanged)."""
    return method_specific_id if method_specific_id.startswith(DID_PREFIX) else DID_PREFIX + method_specific_id


def verification_method(suite: CryptoSuite, public_key: bytes, key_id: str = "key-1") -> dict[str, Any]:
    """A verification method for a chain signing key of ``suite``."""
    return {"id": key_id, "type": SIGNING_TYPES[suite.name], "public_key": public_key}


def agreement_method(suite: CryptoSuite, public_key: bytes, key_id: str = "kx-1") -> dict[str, Any]:
    """A key-agreement method (X25519 on ``std``, an SM2 point on ``sm``)."""
    return {"id": key_id, "type": AGREEMENT_TYPES[suite.name], "public_key": public_key}


@dataclass
class Service:
    id: str
    type: str
    endpoint: str

    def to_args(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "endpoint": self.endpoint}


class Did:
    """The ``did`` contract: every method of docs/contract-did.md."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def create(self, did: str, methods: list[dict[str, Any]], *, authentication: list[str] | None = None,
                     key_agreement: list[str] | None = None, services: list[Service] | None = None,
                     controller: bytes | None = None) -> dict[str, Any]:
        """Create ``did``; authentication defaults to every signing method."""
        auth = authentication if authentication is not None else [
            m["id"] for m in methods if m["type"] in SIGNING_TYPES.values()]
        args: dict[str, Any] = {"did": did_of(did), "verification_methods": methods, "authentication": auth,
                                "key_agreement": key_agreement or [], "services": [s.to_args() for s in services or []]}
        if controller is not None:
            args["controller"] = controller
        return dict(await self.contract.call("create", args))

    async def update(self, did: str, **fields: Any) -> dict[str, Any]:
        """Replace any of controller, verification_methods, authentication, key_agreement, services."""
        if "services" in fields:
            fields["services"] = [s.to_args() if isinstance(s, Service) else s for s in fields["services"]]
        return dict(await self.contract.call("update", {"did": did_of(did), **fields}))

    async def deactivate(self, did: str) -> dict[str, Any]:
        return dict(await self.contract.call("deactivate", {"did": did_of(did)}))

    async def record(self, did: str) -> dict[str, Any] | None:
        """The stored record, or None."""
        return await self.contract.query("resolve", {"did": did_of(did)})

    async def resolve(self, did: str) -> dict[str, Any]:
        """The W3C DID document and its metadata; raises if the DID is unknown."""
        record = await self.record(did)
        if record is None:
            raise ConsortiaError(f"{did_of(did)} is not on chain")
        return to_document(record)

    async def controls(self, did: str, address: bytes) -> bool:
        return bool(await self.contract.query("controls", {"did": did_of(did), "address": address}))

    async def by_controller(self, controller: bytes, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(await self.contract.query("by_controller", {"controller": controller, "offset": offset, "limit": limit}))

    async def register_issuer(self, did: str, name: str = "") -> None:
        await self.contract.call("register_issuer", {"did": did_of(did), "name": name})

    async def remove_issuer(self, did: str) -> None:
        await self.contract.call("remove_issuer", {"did": did_of(did)})

    async def issuer(self, did: str) -> dict[str, Any] | None:
        return await self.contract.query("issuer", {"did": did_of(did)})

    async def issue_credential(self, hash: bytes, issuer: str, subject: str, schema: str, expires_ms: int = 0) -> int:
        out = await self.contract.call("issue_credential", {"hash": hash, "issuer": did_of(issuer), "subject": did_of(subject),
                                                            "schema": schema, "expires_ms": expires_ms})
        return int(out["seq"])

    async def revoke_credential(self, hash: bytes, reason: str = "") -> None:
        await self.contract.call("revoke_credential", {"hash": hash, "reason": reason})

    async def credential_status(self, hash: bytes) -> dict[str, Any]:
        return dict(await self.contract.query("credential_status", {"hash": hash}))

    async def credentials_of(self, subject: str, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(await self.contract.query("credentials_of", {"subject": did_of(subject), "offset": offset, "limit": limit}))

    async def has_valid_credential(self, subject: str, schema: str | None = None, issuer: str | None = None) -> bool:
        args: dict[str, Any] = {"subject": did_of(subject)}
        if schema is not None:
            args["schema"] = schema
        if issuer is not None:
            args["issuer"] = did_of(issuer)
        return bool(await self.contract.query("has_valid_credential", args))
