"""PBFT messages: signed, canonical msgpack, strictly decoded.

Every message names its sender (a validator public key) and carries the sender's signature over
the canonical encoding of all its other fields, so a message relayed or replayed by anyone else
still proves who said it. Commit messages are signed over exactly ``commit_vote_bytes`` so that
2f+1 of them form the block's commit certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from node.crypto.base import CryptoSuite
from node.errors import DecodeError
from node.wire import codec
from node.wire.types import MAX_CERT_SIGNATURES, Block, Vote, commit_vote_bytes

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _u64(v: Any, name: str) -> int:
    if type(v) is not int or not 0 <= v < 2**64:
        raise DecodeError(f"'{name}' must be an unsigned integer")
    return v


def _bytes(v: Any, name: str, lo: int = 0, hi: int = 1 << 26) -> bytes:
    if type(v) is not bytes or not lo <= len(v) <= hi:
        raise DecodeError(f"'{name}' must be {lo}..{hi} bytes")
    return v


def _keys(m: Any, kind: str, keys: set[str]) -> dict[str, Any]:
    if type(m) is not dict or set(m) != keys:
        raise DecodeError(f"malformed {kind} message")
    return m


def _votes(raw: Any) -> tuple[Vote, ...]:
    if type(raw) is not list or len(raw) > MAX_CERT_SIGNATURES:
        raise DecodeError("votes must be a list")
    out = []
    for v in raw:
        m = _keys(v, "vote", {"validator", "signature"})
        out.append(Vote(validator=_bytes(m["validator"], "validator", 1, 128), signature=_bytes(m["signature"], "signature", 1, 128)))
    return tuple(out)


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

    kind = "preprepare"

    def body(self, chain_id: str) -> dict[str, Any]:
        return {"type": self.kind, "chain_id": chain_id, "height": self.height, "view": self.view, "block": self.block, "sender": self.sender}

    def signed_bytes(self, chain_id: str) -> bytes:
        return codec.encode(self.body(chain_id))

    def to_map(self) -> dict[str, Any]:
        return {"t": self.kind, "height": self.height, "view": self.view, "block": self.block, "sender": self.sender, "sig": self.signature}

    @classmethod
    def from_map(cls, m: Any) -> PrePrepare:
        m = _keys(m, cls.kind, {"t", "height", "view", "block", "sender", "sig"})
        return cls(_u64(m["height"], "height"), _u64(m["view"], "view"), _bytes(m["block"], "block", 1),
                   _bytes(m["sender"], "sender", 1, 128), _bytes(m["sig"], "sig", 1, 128))

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
        m = _keys(m, cls.kind, {"t", "height", "view", "hash", "sender", "sig"})
        return cls(_u64(m["height"], "height"), _u64(m["view"], "view"), _bytes(m["hash"], "hash", 32, 32),
                   _bytes(m["sender"], "sender", 1, 128), _bytes(m["sig"], "sig", 1, 128))


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

    def to_map(self) -> dict[str, Any]:
        return {"block": self.block, "view": self.view, "votes": [v.to_map() for v in self.votes]}

    @classmethod
    def from_map(cls, m: Any) -> PreparedCert:
        m = _keys(m, "prepared", {"block", "view", "votes"})
        return cls(_u64(m["view"], "view"), _bytes(m["block"], "block", 1), _votes(m["votes"]))


MAX_PREPARED_CERTS = 64  # at most one per height of the watermark window


@dataclass(frozen=True)
class ViewChange:
    """``sender`` gives up on view ``new_view - 1`` with ``height - 1`` committed, and reports its
    prepared blocks for ``height``, ``height + 1``, ... (one certificate per height, consecutive)."""

    height: int
    new_view: int
    prepared: tuple[PreparedCert, ...]
    sender: bytes
    signature: bytes = b""

    kind = "viewchange"

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
        m = _keys(m, cls.kind, {"t", "height", "new_view", "prepared", "sender", "sig"})
        if type(m["prepared"]) is not list or len(m["prepared"]) > MAX_PREPARED_CERTS:
            raise DecodeError(f"prepared must be a list of at most {MAX_PREPARED_CERTS} certificates")
        prepared = tuple(PreparedCert.from_map(c) for c in m["prepared"])
        return cls(_u64(m["height"], "height"), _u64(m["new_view"], "new_view"), prepared,
                   _bytes(m["sender"], "sender", 1, 128), _bytes(m["sig"], "sig", 1, 128))


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

    kind = "newview"

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
        m = _keys(m, cls.kind, {"t", "height", "view", "vcs", "sender", "sig"})
        if type(m["vcs"]) is not list or len(m["vcs"]) > MAX_CERT_SIGNATURES:
            raise DecodeError("view changes must be a list")
        return cls(_u64(m["height"], "height"), _u64(m["view"], "view"), tuple(ViewChange.from_map(v) for v in m["vcs"]),
                   _bytes(m["sender"], "sender", 1, 128), _bytes(m["sig"], "sig", 1, 128))


ConsensusMessage = PrePrepare | Prepare | Commit | ViewChange | NewView
_KINDS = {c.kind: c for c in (PrePrepare, Prepare, Commit, ViewChange, NewView)}


def encode_message(msg: ConsensusMessage) -> bytes:
    return codec.encode(msg.to_map())


def decode_message(data: bytes) -> ConsensusMessage:
    m = codec.decode(data, max_bytes=MAX_MESSAGE_BYTES)
    if type(m) is not dict or m.get("t") not in _KINDS:
        raise DecodeError("unknown consensus message type")
    return _KINDS[m["t"]].from_map(m)


def sign_message(suite: CryptoSuite, private: bytes, chain_id: str, msg: ConsensusMessage) -> ConsensusMessage:
    from dataclasses import replace

    return replace(msg, signature=suite.sign(private, msg.signed_bytes(chain_id)))


def verify_message(suite: CryptoSuite, chain_id: str, msg: ConsensusMessage) -> bool:
    return suite.verify(msg.sender, msg.signed_bytes(chain_id), msg.signature)
