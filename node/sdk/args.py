"""Contract arguments and return values: msgpack, and the JSON convention the CLI uses for them.

In JSON given to the CLI (``--args``), a string of the form ``0x<even number of hex digits>``
stands for a byte string; everything else maps to itself.
"""

from __future__ import annotations

import re
from typing import Any

import msgpack

from node.errors import InvalidParams

_HEX = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")


def encode_args(obj: Any) -> bytes:
    """msgpack-encode call arguments (empty bytes for None)."""
    if obj is None:
        return b""
    try:
        return msgpack.packb(obj, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParams(f"arguments cannot be encoded: {exc}") from None


def decode_return(data: bytes) -> Any:
    """Decode a contract's msgpack return value (None for empty)."""
    if not data:
        return None
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def json_to_args(value: Any) -> Any:
    """Turn "0x.." strings into bytes, recursively."""
    if isinstance(value, str) and _HEX.match(value) and len(value) > 2:
        return bytes.fromhex(value[2:])
    if isinstance(value, list):
        return [json_to_args(v) for v in value]
    if isinstance(value, dict):
        return {k: json_to_args(v) for k, v in value.items()}
    return value


def to_jsonable(value: Any) -> Any:
    """Bytes become "0x.." strings, recursively, so results print as JSON."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(to_jsonable(k)) if isinstance(k, bytes) else k: to_jsonable(v) for k, v in value.items()}
    return value
