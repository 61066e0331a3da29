"""The RPC port's own accept loop: aiohttp serves the connections this module lets in.

``web.TCPSite`` accepts without limit, and an HTTP connection that never sends a request is kept
by aiohttp for about an hour; a few hundred per second exhaust the process's descriptors. Here the
port is a ``GuardedListener`` (connections in total, connections still waiting for their first
complete request in total and per source, descriptors in reserve), and a connection that has not
sent a complete first request within ``handshake_timeout`` seconds is closed. Requests and
WebSockets on an admitted connection are aiohttp's as before.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.events import EventBus
from node.fdlimit import FdGauge
from node.listener import TOO_MANY_CONNECTIONS, GuardedListener, ListenerLimits
from node.ratelog import RateLimitedLog

HANDSHAKE_TIMEOUT = "handshake_timeout"
_POLL = 0.5  # how often a waiting connection checks whether its client has gone


@dataclass(frozen=True)
class RpcLimits:
    max_connections: int = 4096
    max_pending: int = 512
    max_pending_per_ip: int = 256
    handshake_timeout: float = 10.0
    fd_reserve: int = 64  # half the node's reserve: RPC keeps answering after the P2P port stops taking strangers
    log_interval: float = 10.0


class RpcListener:
    def __init__(self, server: web.Server, host: str, port: int, *, limits: RpcLimits, bus: EventBus, ratelog: RateLimitedLog,
                 fds: FdGauge | None = None) -> None:
        self.server = server
        self.limits = limits
        self._first_request: dict[object, asyncio.Event] = {}
        inner = server.request_factory

        def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            waiting = self._first_request.get(protocol)
            if waiting is not None:
                waiting.set()
            return inner(message, payload, protocol, writer, task)

        server.request_factory = request_factory  # read by each connection's handler when it is made
        self.listener = GuardedListener(
            "rpc", host, port,
            limits=ListenerLimits(max_pending=limits.max_pending, max_pending_per_ip=limits.max_pending_per_ip,
                                  fd_reserve=limits.fd_reserve, handshake_timeout=limits.handshake_timeout),
            handler=self._serve, bus=bus, ratelog=ratelog, fds=fds, extra=self._over_total,
        )

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def connections(self) -> int:
        return len(self.server.connections)

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()

    def _over_total(self) -> str | None:
        return TOO_MANY_CONNECTIONS if len(self.server.connections) >= self.limits.max_connections else None

    async def _serve(self, sock: socket.socket, ip: str, done: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        made: list[object] = []

        def protocol_factory() -> Any:
            handler = self.server()
            self._first_request[handler] = asyncio.Event()  # before it can read a byte
            made.append(handler)
            return handler

        transport: asyncio.BaseTransport | None = None
        try:
            transport, protocol = await loop.connect_accepted_socket(protocol_factory, sock)
            first = self._first_request[protocol]
            deadline = loop.time() + self.limits.handshake_timeout
            while not first.is_set():
                if transport.is_closing():
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    transport.close()
                    self.listener.refuse(ip, HANDSHAKE_TIMEOUT)
                    return
                try:
                    await asyncio.wait_for(first.wait(), min(remaining, _POLL))
                except TimeoutError:
                    pass
            done()
        except asyncio.CancelledError:  # evicted for a newer connection, or shutdown
            if transport is not None:
                transport.close()
            else:
                sock.close()
            raise
        finally:
            for handler in made:
                self._first_request.pop(handler, None)
