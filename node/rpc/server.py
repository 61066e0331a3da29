"""The aiohttp application: JSON-RPC at ``POST /``, WebSocket at ``/ws``, Prometheus at ``/metrics``.

Transport only: the methods are the registered handlers (``node.rpc.handlers``), what they may
use is the ``RpcEnv``, and the metrics are the node's registry (``NodeMetrics``, fed by the event bus)
in the Prometheus exposition format.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from node.errors import ConsortiaError, InvalidRequest, PermissionDenied, RequestTooLarge
from node.fdlimit import FdGauge
from node.metrics import render
from node.ratelog import RateLimitedLog
from node.rpc.access import caller_middleware
from node.rpc.connections import RpcLimits, RpcListener
from node.rpc.dispatch import Dispatcher, error_object
from node.rpc.env import RpcEnv
from node.rpc.handlers import all_methods
from node.rpc.origin import OriginPolicy, json_content_type
from node.rpc.subscriptions import BlockNotifier, SubscriptionSession

log = logging.getLogger("consortia.rpc")


def _number(value: Any) -> int | float | None:
    """A status field as a sample value, or None (no sample) when it is absent or not a number."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class RpcServer:
    def __init__(
        self,
        env: RpcEnv,
        *,
        host: str,
        port: int,
        max_body_bytes: int,
        max_batch: int,
        max_ws_subscriptions: int = 64,
        cors_origins: tuple[str, ...] | list[str] = (),
        limits: RpcLimits | None = None,
        fds: FdGauge | None = None,
    ) -> None:
        self.env = env
        self.limits = limits if limits is not None else RpcLimits()
        self.fds = fds if fds is not None else FdGauge()
        self._listener: RpcListener | None = None
        self.origins = OriginPolicy.of(cors_origins)
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.max_ws_subscriptions = max_ws_subscriptions
        self.dispatcher = Dispatcher(all_methods(), env, max_batch=max_batch)
        self.notifier: BlockNotifier | None = None
        self._runner: web.AppRunner | None = None
        self._ws: set[web.WebSocketResponse] = set()
        self._watch()

    # --- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[caller_middleware(self.env.access)])
        app.router.add_post("/", self._http)
        app.router.add_route("OPTIONS", "/", self._preflight)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        return app

    async def start(self) -> None:
        self.notifier = BlockNotifier(self.env.bus, self.env.reader)
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None  # set by setup()
        self._listener = RpcListener(server, self.host, self.port, limits=self.limits, bus=self.env.bus,
                                     ratelog=RateLimitedLog(log, interval=self.limits.log_interval), fds=self.fds)
        await self._listener.start()
        self.port = self._listener.port
        log.info("event=rpc_listening url=http://%s:%d max_connections=%d max_pending=%d max_pending_per_ip=%d handshake_timeout=%s",
                 self.host, self.port, self.limits.max_connections, self.limits.max_pending, self.limits.max_pending_per_ip,
                 self.limits.handshake_timeout)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()  # no new connections while the open ones close
        for ws in list(self._ws):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.notifier is not None:
            self.notifier.close()

    # --- HTTP ------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self.origins.permits(origin):
            return self._refuse_origin(origin)
        cors = self.origins.response_headers(origin)
        if not json_content_type(request.headers.get("Content-Type")):
            err = InvalidRequest("Content-Type must be application/json (optionally with charset=utf-8)")
            return self._error(415, err, cors)
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return self._too_large(cors)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(cors)
        if len(body) > self.max_body_bytes:
            return self._too_large(cors)
        reply = await self.dispatcher.handle_body(body)
        if reply is None:
            return web.Response(status=204, headers=cors)
        return web.Response(text=json.dumps(reply), content_type="application/json", headers=cors)

    async def _preflight(self, request: web.Request) -> web.Response:
        """CORS preflight: answered for listed origins only; refused when CORS is off."""
        origin = request.headers.get("Origin")
        if origin is None or not self.origins.permits(origin):
            return self._refuse_origin(origin)
        return web.Response(status=204, headers=self.origins.preflight_headers(origin))

    def _refuse_origin(self, origin: str | None) -> web.Response:
        shown = "a request without an Origin" if origin is None else f"origin {origin!r}"
        return self._error(403, PermissionDenied(f"{shown} may not call this node from a browser (see rpc.cors_origins)"), {})

    def _too_large(self, headers: dict[str, str] | None = None) -> web.Response:
        return self._error(413, RequestTooLarge(f"request body exceeds {self.max_body_bytes} bytes"), headers or {})

    @staticmethod
    def _error(status: int, exc: ConsortiaError, headers: dict[str, str]) -> web.Response:
        return web.Response(status=status, text=json.dumps(error_object(exc, None)), content_type="application/json",
                            headers=headers)

    async def _health(self, request: web.Request) -> web.Response:
        failure = self.env.metrics.failure
        fork = self.env.fork()
        if failure is not None or fork is not None:
            body: dict[str, Any] = {"ok": False, "height": self.env.reader.height, "reason": failure}
            if fork is not None:
                body["fork"] = fork
            return web.json_response(body, status=503)
        body = {"ok": True, "height": self.env.reader.height}
        stalled = self._stalled()
        if stalled is not None:
            body["stalled"] = stalled
        return web.json_response(body)

    def _stalled(self) -> dict[str, Any] | None:
        """The engine's stall report (fewer than a quorum of validators heard from), if it has one."""
        if self.env.engine is None:
            return None
        liveness = self.env.engine_status().get("liveness")
        if not isinstance(liveness, dict) or liveness.get("stalled_since_ms") is None:
            return None
        return {k: liveness[k] for k in ("stalled_since_ms", "heard_from", "quorum", "validators", "window_ms")}

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = render(self.env.metrics.registry, request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _watch(self) -> None:
        """The current values /metrics reads at each scrape: the node's state as the RPC env
        reaches it, and this server's connections (the counters come from the bus)."""
        env, watch = self.env, self.env.metrics.watch
        watch("consortia_block_height", "Height of the committed head.", lambda: env.reader.height)
        watch("consortia_txpool_size", "Transactions waiting in the pool.", lambda: len(env.pool))
        watch("consortia_ws_connections", "Open WebSocket connections.", lambda: len(self._ws))
        watch("consortia_rpc_connections", "Open RPC connections.",
              lambda: self._listener.connections if self._listener is not None else 0)
        watch("consortia_open_fds", "Descriptors open in the node process.", self.fds.open_fds)
        watch("consortia_open_fds_limit", "The node process's soft open-file limit.", self.fds.soft_limit)
        if env.engine is not None:
            watch("consortia_consensus_view", "The engine's current view (PBFT) or term (Raft); none while not a validator.",
                  lambda: _number(env.engine_status().get("view")))
            watch("consortia_consensus_heights_in_flight", "Heights the PBFT engine is ordering at once (PBFT only).",
                  lambda: _number(env.engine_status().get("in_flight")))

    # --- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        notifier = self.notifier
        if notifier is None:  # routes are only served between start() and stop()
            raise web.HTTPServiceUnavailable(text="the RPC server is not started")
        origin = request.headers.get("Origin")
        if not self.origins.permits(origin):  # browsers do not preflight WebSockets: this is the check
            return self._refuse_origin(origin)
        ws = web.WebSocketResponse(max_msg_size=self.max_body_bytes, heartbeat=30)
        await ws.prepare(request)
        self._ws.add(ws)
        lock = asyncio.Lock()

        async def send(obj: Any) -> None:
            async with lock:
                if ws.closed:
                    raise ConnectionError("websocket closed")
                await ws.send_str(json.dumps(obj))

        session = SubscriptionSession(self.env.reader, notifier, send, self.max_ws_subscriptions)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = await self.dispatcher.handle_body(msg.data.encode(), session)
                    if reply is not None:
                        await send(reply)
                elif msg.type == WSMsgType.BINARY:
                    reply = await self.dispatcher.handle_body(msg.data, session)
                    if reply is not None:
                        await send(reply)
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            session.close()
            self._ws.discard(ws)
        return ws
