"""JSON-RPC 2.0 request validation and dispatch, independent of the transport (HTTP or WebSocket).

Each request is checked for shape before anything runs; every failure becomes a JSON-RPC error
object and never an exception escaping to the transport. Handlers come from a method registry
(``node.rpc.registry``) and are called with the ``RpcEnv``, the WebSocket session when they ask
for it, and the request's parameters bound by position or by name.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from typing import Any

from node.errors import (
    ConsortiaError,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RequestTooLarge,
    Unavailable,
)
from node.rpc.env import RpcEnv
from node.rpc.registry import MethodRegistry, RpcMethod
from node.rpc.subscriptions import SubscriptionSession

log = logging.getLogger("consortia.rpc")

_NO_ID = object()


def error_object(exc: ConsortiaError, req_id: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    data: dict[str, Any] = {"kind": exc.kind}
    if exc.data is not None:
        data["detail"] = exc.data
    err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": req_id}


class Dispatcher:
    def __init__(self, methods: MethodRegistry, env: RpcEnv, *, max_batch: int) -> None:
        self.max_batch = max_batch
        self.env = env
        self._methods = methods

    @property
    def method_names(self) -> list[str]:
        return self._methods.names

    # --- whole bodies ----------------------------------------------------------------------

    async def handle_body(self, body: bytes, session: SubscriptionSession | None = None) -> Any | None:
        """Handle one HTTP body or WebSocket message (``session``: the connection's subscriptions,
        None over HTTP); returns the response value or None (no reply)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return self._count_error(error_object(ParseError("invalid JSON"), None))
        if isinstance(payload, list):
            if not payload:
                return self._count_error(error_object(InvalidRequest("empty batch"), None))
            if len(payload) > self.max_batch:
                return self._count_error(
                    error_object(RequestTooLarge(f"batch of {len(payload)} requests exceeds the limit of {self.max_batch}"), None)
                )
            # Concurrently, so that e.g. the signatures of a batch of tx_send are verified together.
            replies = await asyncio.gather(*(self.handle_one(item, session) for item in payload))
            out = [r for r in replies if r is not None]
            return out or None
        return await self.handle_one(payload, session)

    async def handle_one(self, request: Any, session: SubscriptionSession | None = None) -> dict[str, Any] | None:
        req_id: Any = None
        try:
            if not isinstance(request, dict):
                raise InvalidRequest("a request must be a JSON object")
            req_id = request.get("id", _NO_ID)
            if req_id is not _NO_ID and not (req_id is None or isinstance(req_id, (str, int)) and not isinstance(req_id, bool)):
                req_id = None
                raise InvalidRequest("'id' must be a string, an integer or null")
            if request.get("jsonrpc") != "2.0":
                raise InvalidRequest("'jsonrpc' must be \"2.0\"")
            unknown = set(request) - {"jsonrpc", "method", "params", "id"}
            if unknown:
                raise InvalidRequest(f"unknown request members {sorted(unknown)}")
            method = request.get("method")
            if not isinstance(method, str):
                raise InvalidRequest("'method' must be a string")
            params = request.get("params", [])
            if not isinstance(params, (list, dict)):
                raise InvalidRequest("'params' must be an array or an object")
            result = await self._invoke(method, params, session)
            if req_id is _NO_ID:
                return None
            return {"jsonrpc": "2.0", "result": result, "id": req_id}
        except ConsortiaError as exc:
            if req_id is _NO_ID and not isinstance(exc, InvalidRequest):
                return None
            return self._count_error(error_object(exc, None if req_id is _NO_ID else req_id))
        except Exception:
            log.exception("event=rpc_internal_error")
            if req_id is _NO_ID:
                return None
            return self._count_error(error_object(InternalError("internal error"), req_id))

    def _count_error(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.env.metrics.rpc_error(obj["error"]["code"])
        return obj

    async def _invoke(self, method: str, params: list[Any] | dict[str, Any], session: SubscriptionSession | None) -> Any:
        entry = self._methods.get(method)
        self.env.access.check(method, entry is not None and entry.admin)  # admin-only methods, rate limits
        if entry is None:
            raise MethodNotFound(f"method '{method}' does not exist")
        started = time.perf_counter()
        try:
            kwargs = self._bind(method, entry, params)
            if entry.websocket:
                if session is None:
                    raise Unavailable("subscriptions need a WebSocket connection (/ws)")
                result = entry.handler(self.env, session, **kwargs)
            else:
                result = entry.handler(self.env, **kwargs)
            if entry.is_async:
                result = await result
            return result
        finally:  # a registered method only: the label set stays the method table
            self.env.metrics.observe_rpc(method, time.perf_counter() - started)

    @staticmethod
    def _bind(method: str, entry: RpcMethod, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the handler from ``params`` by position or by (JSON) name."""
        public = entry.params
        names = entry.names
        kwargs: dict[str, Any] = {}
        if isinstance(params, list):
            if len(params) > len(public):
                raise InvalidParams(f"{method} takes at most {len(public)} parameters ({', '.join(names)})")
            for p, value in zip(public, params):
                kwargs[p.name] = value
        else:
            by_name = dict(zip(names, public))
            unknown = set(params) - set(by_name)
            if unknown:
                shown = sorted(str(k) for k in unknown)
                raise InvalidParams(f"{method}: unknown parameters {shown} (expected {', '.join(names) or 'none'})")
            for key, value in params.items():
                kwargs[by_name[key].name] = value
        for p, name in zip(public, names):
            if p.name not in kwargs and p.default is inspect.Parameter.empty:
                raise InvalidParams(f"{method}: missing parameter '{name}'")
        return kwargs
