"""The one wire format of every protocol: a msgpack envelope bound to task, round, sender and position.

Frame = msgpack map ``{"v": 1, "task": str, "round": int, "seq": int, "from": str, "to": str,
"kind": str, "body": map}``. ``seq`` counts the frames one sender sent to one receiver in one task
(0, 1, 2, ...), so a frame replayed from another task, round or position is refused by the receiving
``Session`` even when its bytes are a genuine earlier frame. Bodies hold only msgpack scalars, bytes,
lists and maps with string keys; each protocol checks its own body fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from workers.protocols.errors import MalformedMessage

VERSION = 1
MAX_FRAME = 64 * 1024 * 1024  # one batch of 65,536 points is 2 MiB; 64 MiB leaves room for Paillier vectors
_FIELDS = {"v": int, "task": str, "round": int, "seq": int, "from": str, "to": str, "kind": str, "body": dict}


@dataclass(frozen=True)
class Envelope:
    task: str
    round: int
    seq: int
    sender: str
    to: str
    kind: str
    body: dict[str, Any]

    def encode(self) -> bytes:
        return msgpack.packb(
            {"v": VERSION, "task": self.task, "round": self.round, "seq": self.seq, "from": self.sender,
             "to": self.to, "kind": self.kind, "body": self.body},
            use_bin_type=True,
        )


def decode(frame: bytes) -> Envelope:
    """Parse a frame strictly: unknown or missing fields, wrong types or a wrong version are errors."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise MalformedMessage(f"frame must be bytes, got {type(frame).__name__}")
    if len(frame) > MAX_FRAME:
        raise MalformedMessage(f"frame of {len(frame)} bytes exceeds the {MAX_FRAME}-byte limit")
    try:
        obj = msgpack.unpackb(bytes(frame), raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise MalformedMessage(f"frame is not valid msgpack: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise MalformedMessage(f"envelope must have exactly the fields {sorted(_FIELDS)}, got {keys}")
    for name, typ in _FIELDS.items():
        value = obj[name]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise MalformedMessage(f"envelope field {name!r} must be {typ.__name__}")
    if obj["v"] != VERSION:
        raise MalformedMessage(f"envelope version {obj['v']} is not {VERSION}")
    if obj["round"] < 0 or obj["seq"] < 0:
        raise MalformedMessage("envelope round and seq must not be negative")
    if not all(isinstance(k, str) for k in obj["body"]):
        raise MalformedMessage("body keys must be strings")
    return Envelope(obj["task"], obj["round"], obj["seq"], obj["from"], obj["to"], obj["kind"], obj["body"])


# Body field checks shared by the protocols: each raises MalformedMessage naming the field.

def field(body: dict[str, Any], name: str, typ: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise MalformedMessage(f"body lacks field {name!r}")
    value = body[name]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is int):
        raise MalformedMessage(f"body field {name!r} has type {type(value).__name__}")
    return value


def int_field(body: dict[str, Any], name: str, lo: int, hi: int) -> int:
    value = field(body, name, int)
    if not lo <= value <= hi:
        raise MalformedMessage(f"body field {name!r} = {value} is outside [{lo}, {hi}]")
    return int(value)


def packed(body: dict[str, Any], name: str, width: int, count: int | None = None, max_count: int | None = None) -> bytes:
    """A field of concatenated fixed-width elements (points, scalars): the length must be a multiple of width."""
    value = field(body, name, bytes)
    if len(value) % width:
        raise MalformedMessage(f"body field {name!r} has {len(value)} bytes, not a multiple of {width}")
    n = len(value) // width
    if count is not None and n != count:
        raise MalformedMessage(f"body field {name!r} holds {n} elements, expected {count}")
    if max_count is not None and n > max_count:
        raise MalformedMessage(f"body field {name!r} holds {n} elements, more than {max_count}")
    return bytes(value)


def split(blob: bytes, width: int) -> list[bytes]:
    return [blob[i:i + width] for i in range(0, len(blob), width)]
