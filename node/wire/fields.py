"""Field checkers for strict decoding: every wire type, and every consensus message, checks the
map it decodes against a schema of these, so a malformed field is one ``DecodeError`` with the
field's name, whichever layer it arrives at."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from node.errors import DecodeError

U64_MAX = 2**64 - 1

Checker = Callable[[str, Any], None]


def u64(name: str, v: Any) -> None:
    if type(v) is not int or not 0 <= v <= U64_MAX:
        raise DecodeError(f"field '{name}' must be an unsigned 64-bit integer")


def boolean(name: str, v: Any) -> None:
    if type(v) is not bool:
        raise DecodeError(f"field '{name}' must be a boolean")


def byte_string(lo: int, hi: int) -> Checker:
    def check(name: str, v: Any) -> None:
        if type(v) is not bytes:
            raise DecodeError(f"field '{name}' must be bytes")
        if not lo <= len(v) <= hi:
            raise DecodeError(f"field '{name}' must be {lo}..{hi} bytes, got {len(v)}")

    return check


def byte_string_of(*sizes: int) -> Checker:
    def check(name: str, v: Any) -> None:
        if type(v) is not bytes:
            raise DecodeError(f"field '{name}' must be bytes")
        if len(v) not in sizes:
            raise DecodeError(f"field '{name}' must be one of {sizes} bytes long, got {len(v)}")

    return check


def text(hi: int, pattern: re.Pattern[str] | None = None) -> Checker:
    def check(name: str, v: Any) -> None:
        if type(v) is not str:
            raise DecodeError(f"field '{name}' must be a string")
        if len(v) > hi:
            raise DecodeError(f"field '{name}' is longer than {hi} characters")
        if pattern is not None and not pattern.match(v):
            raise DecodeError(f"field '{name}' has invalid characters or is empty")

    return check


def list_of(hi: int) -> Checker:
    def check(name: str, v: Any) -> None:
        if type(v) is not list:
            raise DecodeError(f"field '{name}' must be a list")
        if len(v) > hi:
            raise DecodeError(f"field '{name}' has more than {hi} entries")

    return check


def check_map(kind: str, raw: Any, schema: dict[str, Checker]) -> dict[str, Any]:
    """``raw`` if it is a map with exactly the schema's keys, each passing its checker."""
    if type(raw) is not dict:
        raise DecodeError(f"{kind} must be a map")
    keys = raw.keys()
    if keys != schema.keys():
        unknown = sorted(set(keys) - set(schema))
        missing = sorted(set(schema) - set(keys))
        parts = []
        if unknown:
            parts.append(f"unknown fields {unknown}")
        if missing:
            parts.append(f"missing fields {missing}")
        raise DecodeError(f"{kind}: " + ", ".join(parts))
    for name, checker in schema.items():
        checker(name, raw[name])
    return raw
