"""Who may send JSON-RPC from a browser: the Content-Type rule and the CORS / Origin allow-list.

A page on any web site can make the visitor's browser send a "simple" cross-origin POST (e.g. as
``text/plain``) without asking the server first, and can open a WebSocket to any address (browsers
never preflight those). So the node answers only ``application/json`` bodies, which browsers may
send cross-origin only after a CORS preflight, refuses every preflight and every request that
carries an ``Origin`` header unless the origin is listed in ``[rpc] cors_origins``, and adds CORS
headers for listed origins only. Clients that are not browsers send no ``Origin`` and are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from node.config import check_origin

JSON_MEDIA_TYPE = "application/json"
PREFLIGHT_MAX_AGE_S = 600


def json_content_type(header: str | None) -> bool:
    """True for ``application/json``, optionally with ``charset=utf-8`` (JSON is UTF-8: RFC 8259)."""
    if header is None:
        return False
    media, *params = (part.strip() for part in header.split(";"))
    if media.lower() != JSON_MEDIA_TYPE:
        return False
    for param in params:
        if not param:
            continue
        name, sep, value = param.partition("=")
        if not sep or name.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


@dataclass(frozen=True)
class OriginPolicy:
    """The allow-list of web origins (empty: browsers on other origins get nothing)."""

    allowed: frozenset[str]

    @classmethod
    def of(cls, origins: Iterable[str]) -> OriginPolicy:
        return cls(frozenset(check_origin(o) for o in origins))

    def permits(self, origin: str | None) -> bool:
        """A request without an Origin header (not from a browser page) is always permitted."""
        return origin is None or origin.lower() in self.allowed

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """CORS headers for a permitted request from a listed origin; none otherwise."""
        if origin is None or origin.lower() not in self.allowed:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        return {
            **self.response_headers(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
