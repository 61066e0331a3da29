"""The W3C DID Core JSON form of a ``did`` contract record, shared by ``did_resolve`` and the SDK.

The contract stores a compact msgpack record (see docs/contract-did.md); this turns it into the
document a DID client expects: ``verificationMethod`` entries with ``publicKeyMultibase``
(base58btc, prefix ``z``), ``authentication`` and ``keyAgreement`` as references, ``service``
with ``serviceEndpoint``, and the resolution metadata (versions, heights, deactivation).
"""

from __future__ import annotations

from typing import Any

DID_PREFIX = "did:consortia:"
CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/ed25519-2020/v1"]
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    """Bitcoin's base58 alphabet; leading zero bytes become '1'."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def from_base58btc(text: str) -> bytes:
    n = 0
    for ch in text:
        i = _B58.find(ch)
        if i < 0:
            raise ValueError(f"'{ch}' is not a base58 character")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def multibase(key: bytes) -> str:
    return "z" + base58btc(key)


def from_multibase(text: str) -> bytes:
    if not text.startswith("z"):
        raise ValueError("only base58btc multibase ('z...') is supported")
    return from_base58btc(text[1:])


def to_document(record: dict[str, Any]) -> dict[str, Any]:
    """``{"didDocument": ..., "didDocumentMetadata": ...}`` for a stored DID record."""
    did = record["id"]
    doc: dict[str, Any] = {
        "@context": CONTEXTS,
        "id": did,
        "controller": did,
        "verificationMethod": [
            {"id": f"{did}#{m['id']}", "type": m["type"], "controller": did, "publicKeyMultibase": multibase(m["public_key"])}
            for m in record.get("verification_methods", [])
        ],
        "authentication": [f"{did}#{ref}" for ref in record.get("authentication", [])],
        "keyAgreement": [f"{did}#{ref}" for ref in record.get("key_agreement", [])],
        "service": [{"id": f"{did}#{s['id']}", "type": s["type"], "serviceEndpoint": s["endpoint"]}
                    for s in record.get("services", [])],
    }
    meta = {
        "controllerAccount": "0x" + bytes(record["controller"]).hex(),
        "versionId": str(record.get("version", 1)),
        "createdHeight": record.get("created"),
        "updatedHeight": record.get("updated"),
        "updatedMs": record.get("updated_ms"),
        "deactivated": bool(record.get("deactivated", False)),
    }
    return {"didDocument": doc, "didDocumentMetadata": meta}


def public_key(document: dict[str, Any], ref: str) -> tuple[str, bytes]:
    """(type, key bytes) of the verification method ``ref`` (``did#id`` or ``#id``) of a JSON document."""
    did = document["id"]
    full = did + ref if ref.startswith("#") else ref
    for m in document.get("verificationMethod", []):
        if m["id"] == full:
            return m["type"], from_multibase(m["publicKeyMultibase"])
    raise KeyError(f"{did} has no verification method {ref}")
