"""Checks of JSON-RPC parameter values shared by the handlers (hex strings: ``jsonfmt.parse_hex``)."""

from __future__ import annotations

from typing import Any

from node.errors import InvalidParams
from node.wire.fields import U64_MAX


def int_param(value: Any, name: str, *, maximum: int = U64_MAX) -> int:
    """A JSON integer in 0..maximum (heights, indexes: unsigned 64-bit unless said otherwise);
    anything else, including a number too large for the wire, is invalid_params."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParams(f"'{name}' must be an integer")
    if not 0 <= value <= maximum:
        raise InvalidParams(f"'{name}' must be between 0 and {maximum}")
    return value


def bool_param(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"'{name}' must be true or false")
    return value
