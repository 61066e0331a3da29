"""Base class for native system contracts: a fixed address and a table of named methods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from inspect import isfunction
from typing import Any

import msgpack

from node.execution.context import FUEL_PER_STORED_BYTE, FUEL_STORAGE_READ, FUEL_STORAGE_WRITE, CallContext, ExecutionFailure, Revert
from node.wire import codec


def system_address(number: int) -> bytes:
    """System contracts live at 0x000...0NNNN (18 zero bytes, then a 2-byte number)."""
    return bytes(18) + number.to_bytes(2, "big")


@dataclass(frozen=True)
class MethodSpec:
    fn: Callable[..., Any]
    read_only: bool


# Functions marked with ``@method``, and whether each is read-only: kept beside the functions
# rather than as an attribute on them, so the marking is typed.
_MARKED: dict[Callable[..., Any], bool] = {}


def method(read_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ``SystemContract`` method as callable; ``read_only`` ones may run in ``state_call``."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        _MARKED[fn] = read_only
        return fn

    return mark


class SystemContract:
    """Dispatches a call by method name; arguments are a msgpack map, results are msgpack."""

    address: bytes
    name: str

    def __init__(self) -> None:
        self.methods: dict[str, MethodSpec] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            if isfunction(fn) and fn in _MARKED:
                self.methods[attr] = MethodSpec(fn=getattr(self, attr), read_only=_MARKED[fn])

    def call(self, ctx: CallContext, method_name: str, args: bytes) -> bytes:
        spec = self.methods.get(method_name)
        if spec is None:
            raise ExecutionFailure(f"{self.name}: unknown method '{method_name}'")
        if ctx.read_only and not spec.read_only:
            raise ExecutionFailure(f"{self.name}.{method_name} changes state and cannot run as a query")
        decoded = decode_args(args)
        result = spec.fn(ctx, decoded)
        return codec.encode(result) if result is not None else b""


def decode_args(args: bytes) -> dict[str, Any]:
    """Arguments of a system call: empty, or a msgpack map with string keys."""
    if not args:
        return {}
    try:
        value = msgpack.unpackb(args, raw=False, strict_map_key=True, max_bin_len=len(args), max_str_len=len(args))
    except Exception as exc:
        raise ExecutionFailure(f"arguments are not valid msgpack ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise ExecutionFailure("arguments must be a msgpack map")
    return value


def require_arg(args: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in args:
        raise Revert(f"missing argument '{name}'")
    value = args[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise Revert(f"argument '{name}' must be {names}")
    return value


# Absolute state keys: how one system contract writes the storage another one owns (the
# committee executing a proposal writes the node list, the parameters and the permissions),
# charged like the scoped storage calls and refused in read-only calls.


def read_key(ctx: CallContext, key: bytes) -> bytes | None:
    ctx.fuel.charge(FUEL_STORAGE_READ)
    return ctx.state.get(key)


def write_key(ctx: CallContext, key: bytes, value: bytes) -> None:
    if ctx.read_only:
        raise ExecutionFailure("state writes are not allowed in a read-only call")
    ctx.fuel.charge(FUEL_STORAGE_WRITE + FUEL_PER_STORED_BYTE * (len(key) + len(value)))
    ctx.state.set(key, value)


def delete_key(ctx: CallContext, key: bytes) -> None:
    if ctx.read_only:
        raise ExecutionFailure("state writes are not allowed in a read-only call")
    ctx.fuel.charge(FUEL_STORAGE_WRITE)
    ctx.state.delete(key)
