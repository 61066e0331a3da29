"""What every consensus message has in common, whatever the engine: a kind, a sender, a
signature over the canonical encoding of everything else, and a strict decoder.

Engines define their messages as frozen dataclasses with a ``kind``, a ``to_map`` and a
``from_map`` built on ``node.wire.fields``; this module signs, verifies, encodes and decodes
them, so PBFT and Raft share one codec and one set of field checks with the wire types.
"""

from __future__ import annotations

from dataclasses import Field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from node.crypto.base import CryptoSuite
from node.errors import DecodeError
from node.params import MAX_FRAME_CEILING
from node.wire import codec
from node.wire.fields import Checker, byte_string, check_map
from node.wire.types import MAX_PUBKEY_LEN, MAX_SIGNATURE_LEN

MAX_MESSAGE_BYTES = MAX_FRAME_CEILING  # the peer layer's frame limit bounds real messages further

SENDER = byte_string(1, MAX_PUBKEY_LEN)
SIGNATURE = byte_string(1, MAX_SIGNATURE_LEN)
HASH = byte_string(32, 32)


class SignedMessage(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    kind: ClassVar[str]

    @property
    def sender(self) -> bytes: ...

    @property
    def signature(self) -> bytes: ...

    def signed_bytes(self, chain_id: str) -> bytes: ...

    def to_map(self) -> dict[str, Any]: ...


M = TypeVar("M", bound=SignedMessage)


def fields(kind: str, raw: Any, schema: dict[str, Checker]) -> dict[str, Any]:
    """Check a message map: its type tag ``t`` (exactly ``kind``: a message nested in another, like
    the view changes in a NEW-VIEW, has no other spelling) plus ``schema``, with the sender and
    signature every message has."""
    return check_map(f"{kind} message", raw, {"t": _tag(kind), **schema, "sender": SENDER, "sig": SIGNATURE})


def _tag(kind: str) -> Checker:
    def check(name: str, v: Any) -> None:
        if v != kind or type(v) is not str:
            raise DecodeError(f"field '{name}' must be '{kind}'")

    return check


def sign_message(suite: CryptoSuite, private: bytes, chain_id: str, msg: M) -> M:
    return replace(msg, signature=suite.sign(private, msg.signed_bytes(chain_id)))


def verify_message(suite: CryptoSuite, chain_id: str, msg: SignedMessage) -> bool:
    return suite.verify(msg.sender, msg.signed_bytes(chain_id), msg.signature)


def encode_message(msg: SignedMessage) -> bytes:
    return codec.encode(msg.to_map())


class MessageCodec:
    """Decodes frames of one engine: the ``t`` tag picks the message class, which checks the rest."""

    def __init__(self, engine: str, kinds: tuple[Any, ...]) -> None:
        self.engine = engine
        self.kinds = {k.kind: k for k in kinds}

    def decode(self, data: bytes) -> Any:
        m = codec.decode(data, max_bytes=MAX_MESSAGE_BYTES)
        tag = m.get("t") if type(m) is dict else None
        cls = self.kinds.get(tag) if type(tag) is str else None
        if cls is None:
            raise DecodeError(f"unknown {self.engine} message type")
        return cls.from_map(m)
