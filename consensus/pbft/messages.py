"""PBFT messages: signed, canonical msgpack, strictly decoded (``consensus.messages``).

Every message names its sender (a validator public key) and carries the sender's signature over
the canonical encoding of all its other fields, so a message relayed or replayed by anyone else
still proves who said it. Commit messages are signed over exactly ``commit_vote_bytes`` so that
2f+1 of them form the block's commit certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from consensus.messages import HASH, MessageCodec, encode_message, fields, sign_message, verify_message
from node.wire import codec
from node.wire.fields import byte_string, check_map, list_of, u64
from node.wire.types import MAX_CERT_SIGNATURES, Block, Vote, commit_vote_bytes

MAX_BLOCK_FIELD = 1 << 26  # an encoded block inside a message
MAX_PREPARED_CERTS = 64  # at most one per height of the watermark window

BLOCK = byte_string(1, MAX_BLOCK_FIELD)


def prepare_vote_bytes(chain_id: str, height: int, view: int, block_hash: bytes) -> bytes:
    return codec.encode({"type": "prepare", "chain_id": chain_id, "height": height, "view": view, "block_hash": block_hash})


@dataclass(frozen=True)
class PrePrepare:
    """The primary's proposal of ``block`` for (height, view)."""

    height: int
    view: int
    block: bytes  # canonical block encoding
    sender: bytes
    signature: bytes = b""

    kind: ClassVar[str] = "preprepare"

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode({"type": self.kind, "chain_id": chain_id, "height": self.height, "view": self.view,
                             "block": self.block, "sender": self.sender})

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "height": self.height, "view": self.view, "block": self.block, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> PrePrepare:
        m = fields(cls.kind, m, {"height": u64, "view": u64, "block": BLOCK})
        return cls(m["height"], m["view"], m["block"], m["sender"], m["sig"])

    def decode_block(self) -> Block:
        return Block.decode(self.block)


@dataclass(frozen=True)
class _BlockVote:
    """A signed vote for a block hash at (height, view): the shape of both prepare and commit."""

    height: int
    view: int
    block_hash: bytes
    sender: bytes
    signature: bytes = b""

    kind: ClassVar[str] = ""

    def signed_bytes(self, chain_id: str) -> bytes:
        raise NotImplementedError

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "height": self.height, "view": self.view, "hash": self.block_hash, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> Self:
        m = fields(cls.kind, m, {"height": u64, "view": u64, "hash": HASH})
        return cls(m["height"], m["view"], m["hash"], m["sender"], m["sig"])


@dataclass(frozen=True)
class Prepare(_BlockVote):
    kind: ClassVar[str] = "prepare"

    def signed_bytes(self, chain_id: str) -> bytes:
        return prepare_vote_bytes(chain_id, self.height, self.view, self.block_hash)


@dataclass(frozen=True)
class Commit(_BlockVote):
    kind: ClassVar[str] = "commit"

    def signed_bytes(self, chain_id: str) -> bytes:
        return commit_vote_bytes(chain_id, self.height, self.view, self.block_hash)


@dataclass(frozen=True)
class PreparedCert:
    """Proof that ``block`` was prepared in ``view``: 2f+1 prepare signatures over its hash."""

    view: int
    block: bytes
    votes: tuple[Vote, ...]

    SCHEMA: ClassVar[dict[str, Any]] = {"block": BLOCK, "view": u64, "votes": list_of(MAX_CERT_SIGNATURES)}

    def to_map(self) -> dict[str, Any]:
        return {"block": self.block, "view": self.view, "votes": [v.to_map() for v in self.votes]}

    @classmethod
    def from_map(cls, m: Any) -> PreparedCert:
        m = check_map("prepared certificate", m, cls.SCHEMA)
        return cls(m["view"], m["block"], tuple(Vote.from_map(v) for v in m["votes"]))


@dataclass(frozen=True)
class ViewChange:
    """``sender`` gives up on view ``new_view - 1`` with ``height - 1`` committed, and reports its
    prepared blocks for ``height``, ``height + 1``, ... (one certificate per height, consecutive)."""

    height: int
    new_view: int
    prepared: tuple[PreparedCert, ...]
    sender: bytes
    signature: bytes = b""

    kind: ClassVar[str] = "viewchange"

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode(
            {"type": self.kind, "chain_id": chain_id, "height": self.height, "new_view": self.new_view,
             "prepared": [c.to_map() for c in self.prepared], "sender": self.sender}
        )

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "height": self.height, "new_view": self.new_view,
                "prepared": [c.to_map() for c in self.prepared], "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> ViewChange:
        m = fields(cls.kind, m, {"height": u64, "new_view": u64, "prepared": list_of(MAX_PREPARED_CERTS)})
        prepared = tuple(PreparedCert.from_map(c) for c in m["prepared"])
        return cls(m["height"], m["new_view"], prepared, m["sender"], m["sig"])


@dataclass(frozen=True)
class NewView:
    """The new primary's proof that 2f+1 validators left the old view. The blocks the new view
    must carry forward are computed from these view changes by every receiver alike, so the
    primary cannot substitute its own."""

    height: int
    view: int
    view_changes: tuple[ViewChange, ...]
    sender: bytes
    signature: bytes = b""

    kind: ClassVar[str] = "newview"

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode(
            {"type": self.kind, "chain_id": chain_id, "height": self.height, "view": self.view,
             "view_changes": [vc.to_map() for vc in self.view_changes], "sender": self.sender}
        )

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "height": self.height, "view": self.view, "vcs": [vc.to_map() for vc in self.view_changes],
                "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> NewView:
        m = fields(cls.kind, m, {"height": u64, "view": u64, "vcs": list_of(MAX_CERT_SIGNATURES)})
        return cls(m["height"], m["view"], tuple(ViewChange.from_map(v) for v in m["vcs"]), m["sender"], m["sig"])


ConsensusMessage = PrePrepare | Prepare | Commit | ViewChange | NewView
CODEC = MessageCodec("pbft", (PrePrepare, Prepare, Commit, ViewChange, NewView))


def decode_message(data: bytes) -> ConsensusMessage:
    msg: ConsensusMessage = CODEC.decode(data)
    return msg


__all__ = [
    "MAX_PREPARED_CERTS",
    "Commit",
    "ConsensusMessage",
    "NewView",
    "PrePrepare",
    "Prepare",
    "PreparedCert",
    "ViewChange",
    "decode_message",
    "encode_message",
    "prepare_vote_bytes",
    "sign_message",
    "verify_message",
]
