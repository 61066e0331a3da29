"""Raft messages, signed like PBFT's so that a relayed or forged message proves nothing.

An ``Ack`` is signed over ``commit_vote_bytes(chain_id, height, term, block_hash)``: a majority of
acks is the block's commit certificate, with the term in the certificate's ``view`` field.
Signing, encoding and strict decoding are shared with PBFT (``consensus.messages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from consensus.messages import HASH, SENDER, MessageCodec, encode_message, fields, sign_message, verify_message
from node.wire import codec
from node.wire.fields import boolean, byte_string, u64
from node.wire.types import commit_vote_bytes

PAYLOAD = byte_string(0, 1 << 26)  # an encoded block or certificate, or empty


@dataclass(frozen=True)
class _Candidacy:
    """A request to back ``sender`` in ``term``, with its last entry (term, height): the shape of
    both a vote request and a pre-vote request."""

    term: int
    last_term: int
    last_height: int
    sender: bytes
    signature: bytes = b""
    kind: ClassVar[str] = ""

    @property
    def height(self) -> int:
        return self.last_height

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "last_term": self.last_term,
                             "last_height": self.last_height, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "lt": self.last_term, "lh": self.last_height, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Self:
        m = fields(cls.kind, m, {"term": u64, "lt": u64, "lh": u64})
        return cls(m["term"], m["lt"], m["lh"], m["sender"], m["sig"])


@dataclass(frozen=True)
class RequestVote(_Candidacy):
    """Vote for me in ``term`` (a candidate that has incremented its term)."""

    kind: ClassVar[str] = "r_vote_req"


@dataclass(frozen=True)
class PreVoteRequest(_Candidacy):
    """Would you vote for me in ``term`` (our current term + 1)? Asked before starting an election,
    without changing anyone's term: a validator cut off from the others cannot run its term up
    and depose a working leader when it returns (Raft thesis, section 9.6)."""

    kind: ClassVar[str] = "r_prevote_req"


@dataclass(frozen=True)
class PreVote:
    """A pre-vote granted to ``candidate`` for ``term`` (only grants are sent)."""

    term: int
    candidate: bytes
    sender: bytes
    signature: bytes = b""
    kind: ClassVar[str] = "r_prevote"

    @property
    def height(self) -> int:
        return 0

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "candidate": self.candidate,
                             "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "cand": self.candidate, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> PreVote:
        m = fields(cls.kind, m, {"term": u64, "cand": SENDER})
        return cls(m["term"], m["cand"], m["sender"], m["sig"])


@dataclass(frozen=True)
class Vote:
    term: int
    candidate: bytes
    granted: bool
    sender: bytes
    signature: bytes = b""
    kind: ClassVar[str] = "r_vote"

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
        m = fields(cls.kind, m, {"term": u64, "cand": SENDER, "ok": boolean})
        return cls(m["term"], m["cand"], m["ok"], m["sender"], m["sig"])


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
    kind: ClassVar[str] = "r_append"

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "term": self.term, "height": self.height,
                             "block": self.block, "cert": self.cert, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "height": self.height, "block": self.block, "cert": self.cert,
                "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Append:
        m = fields(cls.kind, m, {"term": u64, "height": u64, "block": PAYLOAD, "cert": PAYLOAD})
        return cls(m["term"], m["height"], m["block"], m["cert"], m["sender"], m["sig"])


@dataclass(frozen=True)
class Ack:
    term: int
    height: int
    block_hash: bytes
    sender: bytes
    signature: bytes = b""
    kind: ClassVar[str] = "r_ack"

    def signed_bytes(self, chain_id: str) -> bytes:
        return commit_vote_bytes(chain_id, self.height, self.term, self.block_hash)

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "term": self.term, "height": self.height, "hash": self.block_hash, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Ack:
        m = fields(cls.kind, m, {"term": u64, "height": u64, "hash": HASH})
        return cls(m["term"], m["height"], m["hash"], m["sender"], m["sig"])


RaftMessage = RequestVote | Vote | Append | Ack | PreVoteRequest | PreVote
CODEC = MessageCodec("raft", (RequestVote, Vote, Append, Ack, PreVoteRequest, PreVote))


def decode_message(data: bytes) -> RaftMessage:
    msg: RaftMessage = CODEC.decode(data)
    return msg


__all__ = ["Ack", "Append", "PreVote", "PreVoteRequest", "RaftMessage", "RequestVote", "Vote", "decode_message", "encode_message", "sign_message", "verify_message"]
