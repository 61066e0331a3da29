"""Checks of JSON-RPC parameter values shared by the handlers (hex strings: ``jsonfmt.parse_hex``)."""

from __future__ import annotations

from typing import Any

from node.errors import InvalidParams


def int_param(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParams(f"'{name}' must be a non-negative integer")
    return value


def bool_param(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"'{name}' must be true or false")
    return value
