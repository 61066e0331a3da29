"""Who is calling: admin-only methods and the caller identity rate limits use.

A caller is an admin when it connects from the node's own machine (loopback), unless
``rpc.admin_from_localhost`` is off (for a node behind a reverse proxy on the same machine,
where every client would look local), or when it sends ``Authorization: Bearer <token>`` with
the token in the node home's ``rpc_admin.token`` (made at the first start, readable only by
the node's user). Methods registered with ``admin=True`` answer admins only
(``permission_denied``, -32008, otherwise); admins are not rate limited.

The transport sets the caller once per HTTP request or WebSocket connection (an aiohttp
middleware); the dispatcher reads it from a context variable, so handlers never see it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from node.errors import PermissionDenied, RateLimited
from node.rpc.ratelimit import RateLimiter

ADMIN_TOKEN_FILE = "rpc_admin.token"


@dataclass(frozen=True)
class Caller:
    client: str  # the rate-limit key: the peer's address
    admin: bool


IN_PROCESS = Caller(client="in-process", admin=True)  # a dispatcher driven directly, not over a transport
CURRENT_CALLER: ContextVar[Caller] = ContextVar("consortia_rpc_caller", default=IN_PROCESS)


def load_or_make_token(home: Path) -> str:
    """The node's admin token, created (0600) at the first start."""
    path = home / ADMIN_TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@dataclass
class AccessPolicy:
    """Admin recognition and the public rate limit (None: unlimited)."""

    admin_from_localhost: bool = True
    token: str | None = None
    limiter: RateLimiter | None = field(default=None)

    def caller(self, remote: str | None, authorization: str | None) -> Caller:
        admin = self.admin_from_localhost and _is_loopback(remote)
        if not admin and self.token is not None and authorization is not None:
            scheme, _, given = authorization.partition(" ")
            admin = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())
        return Caller(client=remote or "unknown", admin=admin)

    def check(self, method: str, admin_only: bool) -> None:
        """Raise unless the current caller may call ``method`` now."""
        caller = CURRENT_CALLER.get()
        if caller.admin:
            return
        if admin_only:
            raise PermissionDenied(f"'{method}' is an admin method: call it from the node's machine or with the token in "
                                   f"the node home's {ADMIN_TOKEN_FILE}")
        if self.limiter is not None and not self.limiter.allow(caller.client):
            raise RateLimited(f"too many requests from {caller.client}: at most {self.limiter.rate:g} per second "
                              f"(bursts of {self.limiter.burst}); slow down")


def caller_middleware(policy: AccessPolicy) -> Middleware:
    """aiohttp middleware that records who is calling for the rest of the request (or WebSocket connection)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = CURRENT_CALLER.set(policy.caller(request.remote, request.headers.get("Authorization")))
        try:
            return await handler(request)
        finally:
            CURRENT_CALLER.reset(token)

    return middleware
