"""Off-chain mutual authentication of two institutions by their on-chain DIDs, and a shared key.

Three messages, each side signing the whole transcript with a key listed under ``authentication``
in its DID document as the chain resolves it:

1. initiator -> responder: ``Hello(did, nonce, ephemeral)``
2. responder -> initiator: ``Reply(did, nonce, ephemeral, key_id, signature("responder" || T))``
3. initiator -> responder: ``Confirm(key_id, signature("initiator" || T))``

``T = H(label || both DIDs, nonces and ephemeral public keys)``. The shared key comes from an
ephemeral Diffie-Hellman (X25519 on ``std``; ECDH on the SM2 curve on ``sm``) run through a
KDF with the chain hash (SHA-256 or SM3) and bound to ``T``, so it is fresh per session and
known only to the two DID holders. A deactivated DID, a key not listed for authentication, a
key of the wrong suite or a bad signature ends the handshake with ``AuthError``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from node.crypto.base import CryptoSuite, KeyPair
from node.errors import ConsortiaError
from node.wire.diddoc import public_key

LABEL = b"consortia-did-auth/v1"
NONCE_BYTES = 32
SIGNING_TYPES = {"std": "Ed25519VerificationKey2020", "sm": "SM2VerificationKey"}


class AuthError(ConsortiaError):
    """The peer could not prove it holds the DID it claims."""


# --- ECDH on the SM2 curve (GB/T 32918.5 parameters) -----------------------------------------------
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
      0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)


def _add(p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and (p1[1] + p2[1]) % _P == 0:
        return None
    if p1 == p2:
        lam = (3 * p1[0] * p1[0] + _A) * pow(2 * p1[1], -1, _P) % _P
    else:
        lam = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, _P) % _P
    x = (lam * lam - p1[0] - p2[0]) % _P
    return x, (lam * (p1[0] - x) - p1[1]) % _P


def _mul(k: int, point: tuple[int, int]) -> tuple[int, int] | None:
    out: tuple[int, int] | None = None
    addend: tuple[int, int] | None = point
    while k:
        if k & 1:
            out = _add(out, addend)
        addend = _add(addend, addend)
        k >>= 1
    return out


def _sm2_point(data: bytes) -> tuple[int, int]:
    if len(data) != 65 or data[0] != 4:
        raise AuthError("an SM2 ephemeral key is a 65-byte uncompressed point")
    x, y = int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")
    if not (x < _P and y < _P and (y * y - x * x * x - _A * x - _B) % _P == 0):
        raise AuthError("the SM2 ephemeral key is not on the curve")
    return x, y


def _encode_point(point: tuple[int, int]) -> bytes:
    return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


class _Ephemeral:
    """One side's ephemeral Diffie-Hellman key for the suite."""

    def __init__(self, suite: CryptoSuite) -> None:
        self.suite = suite.name
        if self.suite == "std":
            self._x25519 = X25519PrivateKey.generate()
            self.public = self._x25519.public_key().public_bytes_raw()
        else:
            self._k = secrets.randbelow(_N - 1) + 1
            point = _mul(self._k, _G)
            assert point is not None
            self.public = _encode_point(point)

    def shared(self, peer: bytes) -> bytes:
        if self.suite == "std":
            if len(peer) != 32:
                raise AuthError("an X25519 ephemeral key is 32 bytes")
            try:
                return self._x25519.exchange(X25519PublicKey.from_public_bytes(peer))
            except ValueError as exc:  # an all-zero shared secret: a low-order point
                raise AuthError(f"bad X25519 ephemeral key: {exc}") from None
        point = _mul(self._k, _sm2_point(peer))
        if point is None:
            raise AuthError("the SM2 shared point is at infinity")
        return point[0].to_bytes(32, "big")


def kdf(suite: CryptoSuite, secret: bytes, info: bytes, length: int) -> bytes:
    """Counter-mode KDF with the chain hash (the GB/T 32918.4 construction for SM3)."""
    out = b""
    counter = 1
    while len(out) < length:
        out += suite.hash(secret + info + counter.to_bytes(4, "big"))
        counter += 1
    return out[:length]


# --- messages ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    did: str
    nonce: bytes
    ephemeral: bytes

    def encode(self) -> bytes:
        return msgpack.packb({"did": self.did, "nonce": self.nonce, "ephemeral": self.ephemeral})

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        m = _decode(data, {"did": str, "nonce": bytes, "ephemeral": bytes})
        return cls(m["did"], m["nonce"], m["ephemeral"])


@dataclass(frozen=True)
class Reply:
    did: str
    nonce: bytes
    ephemeral: bytes
    key_id: str
    signature: bytes

    def encode(self) -> bytes:
        return msgpack.packb({"did": self.did, "nonce": self.nonce, "ephemeral": self.ephemeral,
                              "key_id": self.key_id, "signature": self.signature})

    @classmethod
    def decode(cls, data: bytes) -> Reply:
        m = _decode(data, {"did": str, "nonce": bytes, "ephemeral": bytes, "key_id": str, "signature": bytes})
        return cls(m["did"], m["nonce"], m["ephemeral"], m["key_id"], m["signature"])


@dataclass(frozen=True)
class Confirm:
    key_id: str
    signature: bytes

    def encode(self) -> bytes:
        return msgpack.packb({"key_id": self.key_id, "signature": self.signature})

    @classmethod
    def decode(cls, data: bytes) -> Confirm:
        m = _decode(data, {"key_id": str, "signature": bytes})
        return cls(m["key_id"], m["signature"])


def _decode(data: bytes, fields: dict[str, type]) -> dict[str, Any]:
    try:
        m = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise AuthError(f"malformed handshake message: {exc}") from None
    if not isinstance(m, dict) or set(m) != set(fields) or any(not isinstance(m[k], t) for k, t in fields.items()):
        raise AuthError(f"a handshake message has exactly: {', '.join(fields)}")
    return m


@dataclass(frozen=True)
class Session:
    """The outcome: who the peer is (proven) and the key both sides now share."""

    peer_did: str
    key: bytes
    transcript: bytes


def _transcript(suite: CryptoSuite, hello: Hello, did_b: str, nonce_b: bytes, eph_b: bytes) -> bytes:
    def lp(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b
    return suite.hash(LABEL + lp(hello.did.encode()) + lp(hello.nonce) + lp(hello.ephemeral)
                      + lp(did_b.encode()) + lp(nonce_b) + lp(eph_b))


def _check_signature(suite: CryptoSuite, document: dict[str, Any], did: str, key_id: str, message: bytes,
                     signature: bytes) -> None:
    """``signature`` is by an authentication key of the active DID ``did`` as resolved on chain."""
    doc, meta = document["didDocument"], document["didDocumentMetadata"]
    if doc["id"] != did:
        raise AuthError(f"the resolved document is for {doc['id']}, not {did}")
    if meta.get("deactivated"):
        raise AuthError(f"{did} is deactivated")
    ref = f"{did}#{key_id}"
    if ref not in doc.get("authentication", []):
        raise AuthError(f"{ref} is not an authentication key of {did}")
    kind, key = public_key(doc, ref)
    if kind != SIGNING_TYPES[suite.name]:
        raise AuthError(f"{ref} is a {kind}, not a {SIGNING_TYPES[suite.name]} of this chain's suite")
    if not suite.verify(key, message, signature):
        raise AuthError(f"the signature does not verify with {ref}")


class Initiator:
    def __init__(self, suite: CryptoSuite, did: str, key: KeyPair, key_id: str = "key-1") -> None:
        self.suite, self.did, self.key, self.key_id = suite, did, key, key_id
        self._eph = _Ephemeral(suite)
        self.hello = Hello(did, secrets.token_bytes(NONCE_BYTES), self._eph.public)

    def finish(self, reply: Reply, peer_document: dict[str, Any]) -> tuple[Confirm, Session]:
        """Check the responder's proof against its resolved DID document; sign ours; derive the key."""
        if len(reply.nonce) != NONCE_BYTES:
            raise AuthError(f"the nonce must be {NONCE_BYTES} bytes")
        t = _transcript(self.suite, self.hello, reply.did, reply.nonce, reply.ephemeral)
        _check_signature(self.suite, peer_document, reply.did, reply.key_id, b"responder" + t, reply.signature)
        key = kdf(self.suite, self._eph.shared(reply.ephemeral), t, self.suite.symmetric_key_size)
        confirm = Confirm(self.key_id, self.suite.sign(self.key.private_bytes, b"initiator" + t))
        return confirm, Session(reply.did, key, t)


class Responder:
    def __init__(self, suite: CryptoSuite, did: str, key: KeyPair, key_id: str = "key-1") -> None:
        self.suite, self.did, self.key, self.key_id = suite, did, key, key_id
        self._eph = _Ephemeral(suite)
        self._hello: Hello | None = None
        self._t = b""

    def reply(self, hello: Hello) -> Reply:
        if len(hello.nonce) != NONCE_BYTES:
            raise AuthError(f"the nonce must be {NONCE_BYTES} bytes")
        self._hello = hello
        nonce = secrets.token_bytes(NONCE_BYTES)
        self._t = _transcript(self.suite, hello, self.did, nonce, self._eph.public)
        return Reply(self.did, nonce, self._eph.public, self.key_id, self.suite.sign(self.key.private_bytes, b"responder" + self._t))

    def accept(self, confirm: Confirm, peer_document: dict[str, Any]) -> Session:
        """Check the initiator's proof against its resolved DID document; derive the key."""
        if self._hello is None:
            raise AuthError("accept() before reply()")
        _check_signature(self.suite, peer_document, self._hello.did, confirm.key_id, b"initiator" + self._t, confirm.signature)
        key = kdf(self.suite, self._eph.shared(self._hello.ephemeral), self._t, self.suite.symmetric_key_size)
        return Session(self._hello.did, key, self._t)
