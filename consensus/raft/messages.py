"""Raft messages, signed like PBFT's so that a relayed or forged message proves nothing.

An ``Ack`` is signed over ``commit_vote_bytes(chain_id, height, term, block_hash)``: a majority of
acks is the block's commit certificate, with the term in the certificate's ``view`` field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from node.crypto.base import CryptoSuite
from node.errors import DecodeError
from node.wire import codec
from node.wire.types import commit_vote_bytes

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _u64(v: Any, name: str) -> int:
    if type(v) is not int or not 0 <= v < 2**64:
        raise DecodeError(f"'{name}' must be an unsigned integer")
    return v


def _b(v: Any, name: str, lo: int = 0, hi: int = 1 << 26) -> bytes:
    if type(v) is not bytes or not lo <= len(v) <= hi:
        raise DecodeError(f"'{name}' must be {lo}..{hi} bytes")
    return v


def _fields(m: Any, keys: set[str]) -> dict[str, Any]:
    if type(m) is not dict or set(m) != keys:
        raise DecodeError("malformed raft message")
    return m


@dataclass(frozen=True)
class RequestVote:
    term: int
    last_term: int
    last_height: int
    sender: bytes
    signature: bytes = b""
    kind = "r_vote_req"

    @property
    def height(self) -> int:
        return self.last_height

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "last_term": self.last_term,
                             "last_height": self.last_height, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "lt": self.last_term, "lh": self.last_height, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> RequestVote:
        m = _fields(m, {"t", "term", "lt", "lh", "sender", "sig"})
        return cls(_u64(m["term"], "term"), _u64(m["lt"], "lt"), _u64(m["lh"], "lh"), _b(m["sender"], "sender", 1, 128), _b(m["sig"], "sig", 1, 128))


@dataclass(frozen=True)
class Vote:
    term: int
    candidate: bytes
    granted: bool
    sender: bytes
    signature: bytes = b""
    kind = "r_vote"

    @property
    def height(self) -> int:
        return 0

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "candidate": self.candidate,
                             "granted": self.granted, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "cand": self.candidate, "ok": self.granted, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Vote:
        m = _fields(m, {"t", "term", "cand", "ok", "sender", "sig"})
        if type(m["ok"]) is not bool:
            raise DecodeError("'ok' must be a boolean")
        return cls(_u64(m["term"], "term"), _b(m["cand"], "cand", 1, 128), m["ok"], _b(m["sender"], "sender", 1, 128), _b(m["sig"], "sig", 1, 128))


@dataclass(frozen=True)
class Append:
    """Leader -> followers: an entry to store (``block``, may be empty for a heartbeat) and the
    certificate of the last committed entry (``cert``, may be empty)."""

    term: int
    height: int  # the entry's height, or the leader's next height for a heartbeat
    block: bytes
    cert: bytes
    sender: bytes
    signature: bytes = b""
    kind = "r_append"

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "height": self.height,
                             "block": self.block, "cert": self.cert, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "height": self.height, "block": self.block, "cert": self.cert,
                "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Append:
        m = _fields(m, {"t", "term", "height", "block", "cert", "sender", "sig"})
        return cls(_u64(m["term"], "term"), _u64(m["height"], "height"), _b(m["block"], "block"), _b(m["cert"], "cert"),
                   _b(m["sender"], "sender", 1, 128), _b(m["sig"], "sig", 1, 128))


@dataclass(frozen=True)
class Ack:
    term: int
    height: int
    block_hash: bytes
    sender: bytes
    signature: bytes = b""
    kind = "r_ack"

    def signed_bytes(self, chain_id: str) -> bytes:
        return commit_vote_bytes(chain_id, self.height, self.term, self.block_hash)

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "height": self.height, "hash": self.block_hash, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Ack:
        m = _fields(m, {"t", "term", "height", "hash", "sender", "sig"})
        return cls(_u64(m["term"], "term"), _u64(m["height"], "height"), _b(m["hash"], "hash", 32, 32),
                   _b(m["sender"], "sender", 1, 128), _b(m["sig"], "sig", 1, 128))


RaftMessage = RequestVote | Vote | Append | Ack
_KINDS = {c.kind: c for c in (RequestVote, Vote, Append, Ack)}


def encode_message(msg: RaftMessage) -> bytes:
    return codec.encode(msg.to_map())


def decode_message(data: bytes) -> RaftMessage:
    m = codec.decode(data, max_bytes=MAX_MESSAGE_BYTES)
    if type(m) is not dict or m.get("t") not in _KINDS:
        raise DecodeError("unknown raft message type")
    return _KINDS[m["t"]].from_map(m)


def sign_message(suite: CryptoSuite, private: bytes, chain_id: str, msg: RaftMessage) -> RaftMessage:
    return replace(msg, signature=suite.sign(private, msg.signed_bytes(chain_id)))


def verify_message(suite: CryptoSuite, chain_id: str, msg: RaftMessage) -> bool:
    return suite.verify(msg.sender, msg.signed_bytes(chain_id), msg.signature)
