"""The JSON-RPC method table, filled by the ``@rpc_method`` decorator next to each handler.

A handler is a plain function whose first parameter is the ``RpcEnv`` (``env``) and, for
WebSocket-only methods, whose second is the connection's subscription session (``session``);
its remaining parameters are the method's JSON-RPC parameters, bound by position or by name.
``env`` and ``session`` are supplied by the dispatcher and are never JSON-RPC parameters. A
parameter whose JSON name is a Python keyword is spelled with one trailing underscore (``from_``
is the JSON parameter ``from``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RpcMethod:
    name: str
    handler: Callable[..., Any]
    params: tuple[inspect.Parameter, ...]  # the JSON-RPC parameters, in positional order
    names: tuple[str, ...]  # their JSON names, in the same order (``from_`` -> ``from``)
    websocket: bool  # takes the WebSocket session; refused over HTTP
    admin: bool  # answers admin callers only (node.rpc.access)
    is_async: bool


class MethodRegistry:
    """Method name -> handler; a name can be registered once."""

    def __init__(self) -> None:
        self._methods: dict[str, RpcMethod] = {}

    def method(self, name: str, *, websocket: bool = False, admin: bool = False) -> Callable[[F], F]:
        """Register the decorated function as the handler of JSON-RPC method ``name``; ``admin``:
        only admin callers (the node's machine, or the admin token) may call it."""

        def register(fn: F) -> F:
            self.add(name, fn, websocket=websocket, admin=admin)
            return fn

        return register

    def add(self, name: str, fn: Callable[..., Any], *, websocket: bool = False, admin: bool = False) -> RpcMethod:
        if name in self._methods:
            raise ValueError(f"JSON-RPC method '{name}' is registered twice")
        params = list(inspect.signature(fn).parameters.values())
        injected = ["env", "session"] if websocket else ["env"]
        if [p.name for p in params[: len(injected)]] != injected:
            raise TypeError(f"the handler of '{name}' must take ({', '.join(injected)}, ...) first")
        public = tuple(
            p for p in params[len(injected):] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        names = tuple(json_name(p.name) for p in public)
        entry = RpcMethod(name=name, handler=fn, params=public, names=names, websocket=websocket,
                          admin=admin, is_async=inspect.iscoroutinefunction(fn))
        self._methods[name] = entry
        return entry

    def get(self, name: str) -> RpcMethod | None:
        return self._methods.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._methods)

    def __iter__(self) -> Iterator[RpcMethod]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)


def json_name(python_name: str) -> str:
    """The JSON-RPC name of a handler parameter: a trailing underscore (keyword clash) dropped."""
    return python_name[:-1] if python_name.endswith("_") and not python_name.endswith("__") else python_name


METHODS = MethodRegistry()
"""Every method the node serves; ``node.rpc.handlers`` imports the modules that fill it."""

rpc_method = METHODS.method
