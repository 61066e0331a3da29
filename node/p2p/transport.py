"""Authenticated peer links: mutual TLS, a hello with the chain identity, length-prefixed frames.

Each pair of nodes keeps one connection, dialled by the node with the smaller public key (so two
nodes never race to connect to each other). A connection is kept only if the peer's certificate
chains to the consortium CA, names a public key that is in the on-chain node list, and its hello
carries the same chain id and genesis hash. Frames are a 4-byte big-endian length plus canonical
msgpack; oversized or malformed frames and floods close the link with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError, ConsortiaError
from node.events import EventBus, PeerConnected, PeerDisconnected, PeerRefused
from node.p2p.certs import CA_CERT, NODE_CERT, NODE_KEY, TLS_DIR, node_pubkey_from_cert
from node.wire import codec

log = logging.getLogger("consortia.p2p")

HELLO_MAX_BYTES = 64 * 1024  # a hello is a few hundred bytes: nothing bigger before a peer is known
MAX_FRAME_BYTES = 32 * 1024 * 1024  # the default limit, for a network service that does not derive one from the chain
SEND_QUEUE_LIMIT = 4096
RATE_PER_SECOND = 20_000.0
RATE_BURST = 40_000.0
HANDSHAKE_TIMEOUT = 10.0
_LEN = struct.Struct(">I")

Handler = Callable[[bytes, dict[str, Any]], None]


def tls_contexts(home: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts requiring a certificate from the consortium CA on both sides."""
    tls = home / TLS_DIR
    for name in (CA_CERT, NODE_CERT, NODE_KEY):
        if not (tls / name).exists():
            raise ConfigError(f"{tls / name} is missing (re-run 'consortia net init' to issue node certificates)")
    contexts = []
    for purpose in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(tls / NODE_CERT, tls / NODE_KEY)
        ctx.load_verify_locations(tls / CA_CERT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = False  # peers are identified by the node key in their certificate
        contexts.append(ctx)
    return contexts[0], contexts[1]


@dataclass
class PeerAddress:
    pubkey: bytes
    name: str
    role: str
    host: str
    port: int


@dataclass
class Link:
    pubkey: bytes
    name: str
    role: str
    writer: asyncio.StreamWriter
    outbound: bool
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE_LIMIT))
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    tokens: float = RATE_BURST
    rate: float = RATE_PER_SECOND
    burst: float = RATE_BURST
    last_refill: float = field(default_factory=time.monotonic)
    frames_in: int = 0
    frames_out: int = 0
    dropped_out: int = 0
    since: float = field(default_factory=time.time)

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last_refill) * self.rate)
        self.last_refill = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class P2PNetwork:
    def __init__(
        self,
        *,
        home: Path,
        my_pubkey: bytes,
        host: str,
        port: int,
        chain_id: str,
        genesis_hash: bytes,
        directory: Callable[[], list[PeerAddress]],
        on_message: Handler,
        bus: EventBus | None = None,
        max_frame_bytes: Callable[[], int] = lambda: MAX_FRAME_BYTES,
        rate_per_second: float = RATE_PER_SECOND,
        rate_burst: float = RATE_BURST,
    ) -> None:
        self.rate_per_second = rate_per_second
        self.rate_burst = rate_burst
        self.home = home
        self.me = my_pubkey
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.directory = directory
        self.on_message = on_message
        self.bus = bus if bus is not None else EventBus()
        self.max_frame_bytes = max_frame_bytes  # follows the chain's parameters (node.params.largest_frame_bytes)
        self.oversized_out = 0
        self.server_ctx, self.client_ctx = tls_contexts(home)
        self.links: dict[bytes, Link] = {}
        self._server: asyncio.base_events.Server | None = None
        self._dialer: asyncio.Task[None] | None = None
        self._backoff: dict[bytes, tuple[float, float]] = {}
        self.refused = 0
        self.closed_for_abuse = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self.server_ctx, limit=MAX_FRAME_BYTES + 8)
        self._dialer = asyncio.create_task(self._dial_loop(), name="p2p-dialer")
        log.info("event=p2p_listening addr=%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._dialer is not None:
            self._dialer.cancel()
        if self._server is not None:
            self._server.close()
        for link in list(self.links.values()):
            self._close(link, "shutdown")
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (TimeoutError, Exception):
                pass

    # --- sending ---------------------------------------------------------------------------

    def send(self, peer: bytes, message: dict[str, Any]) -> bool:
        link = self.links.get(peer)
        if link is None:
            return False
        data = codec.encode(message)
        return self._fits(data, message) and self._enqueue(link, data)

    def broadcast(self, message: dict[str, Any], *, roles: tuple[str, ...] = ("validator", "observer")) -> None:
        data = codec.encode(message)
        if not self._fits(data, message):
            return
        for link in list(self.links.values()):
            if link.role in roles:
                self._enqueue(link, data)

    def _fits(self, data: bytes, message: dict[str, Any]) -> bool:
        """A frame over the limit would make every peer drop the link: never send one (the
        chain's limits are set so that honest messages always fit; this is the last guard)."""
        limit = self.max_frame_bytes()
        if len(data) <= limit:
            return True
        self.oversized_out += 1
        log.error("event=p2p_frame_not_sent type=%s bytes=%d limit=%d", message.get("t"), len(data), limit)
        return False

    def _enqueue(self, link: Link, data: bytes) -> bool:
        try:
            link.queue.put_nowait(data)
            return True
        except asyncio.QueueFull:
            link.dropped_out += 1  # a peer that cannot keep up loses messages, not our memory
            return False

    def peers(self) -> list[dict[str, Any]]:
        return [
            {"name": link.name, "role": link.role, "pubkey": "0x" + link.pubkey.hex(), "outbound": link.outbound,
             "frames_in": link.frames_in, "frames_out": link.frames_out, "dropped_out": link.dropped_out,
             "connected_since": int(link.since)}
            for link in self.links.values()
        ]

    # --- following the on-chain node list -------------------------------------------------

    def follow_node_list(self) -> None:
        """The node list changed: close the links of nodes no longer in it (their later dials
        are refused by the handshake), and give every other link its current role, so that
        consensus frames reach a promoted node and no longer reach a demoted one."""
        known = self._known()
        for link in list(self.links.values()):
            addr = known.get(link.pubkey)
            if addr is None:
                self._close(link, "removed from the on-chain node list")
            else:
                link.role, link.name = addr.role, addr.name

    # --- connections -----------------------------------------------------------------------

    def _known(self) -> dict[bytes, PeerAddress]:
        return {p.pubkey: p for p in self.directory() if p.pubkey != self.me}

    async def _dial_loop(self) -> None:
        while True:
            now = time.monotonic()
            for pubkey, addr in self._known().items():
                if pubkey in self.links or self.me > pubkey:
                    continue
                next_try, delay = self._backoff.get(pubkey, (0.0, 0.5))
                if now < next_try:
                    continue
                self._backoff[pubkey] = (now + delay, min(delay * 2, 10.0))
                asyncio.create_task(self._dial(addr))
            await asyncio.sleep(0.5)

    async def _dial(self, addr: PeerAddress) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(addr.host, addr.port, ssl=self.client_ctx, limit=MAX_FRAME_BYTES + 8), HANDSHAKE_TIMEOUT
            )
        except (TimeoutError, OSError, ssl.SSLError):
            return
        await self._handshake(reader, writer, outbound=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handshake(reader, writer, outbound=False)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, outbound: bool) -> None:
        peer_desc = writer.get_extra_info("peername")
        try:
            ssl_obj = writer.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            if not der:
                raise ConfigError("no client certificate")
            pubkey = node_pubkey_from_cert(der)
            known = self._known()
            if pubkey not in known:
                raise ConfigError("certificate names a node that is not in the on-chain node list")
            hello = {"t": "hello", "chain_id": self.chain_id, "genesis": self.genesis_hash, "pubkey": self.me}
            writer.write(_frame(codec.encode(hello)))
            await writer.drain()
            raw = await asyncio.wait_for(_read_frame(reader, HELLO_MAX_BYTES), HANDSHAKE_TIMEOUT)
            theirs = codec.decode(raw)
            if not isinstance(theirs, dict) or theirs.get("t") != "hello":
                raise ConfigError("expected hello")
            if theirs.get("pubkey") != pubkey:
                raise ConfigError("hello key differs from the certificate's")
            if theirs.get("chain_id") != self.chain_id or theirs.get("genesis") != self.genesis_hash:
                raise ConfigError("peer is on another chain (chain id or genesis differs)")
        except (TimeoutError, ConsortiaError, OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.refused += 1
            reason = exc.message if isinstance(exc, ConsortiaError) else exc.__class__.__name__
            self.bus.publish(PeerRefused(reason, abuse=False))
            log.warning("event=peer_refused addr=%s reason=%r", peer_desc, reason)
            writer.close()
            return
        addr = known[pubkey]
        old = self.links.get(pubkey)
        if old is not None:
            self._close(old, "replaced by a new connection")
        link = Link(pubkey=pubkey, name=addr.name, role=addr.role, writer=writer, outbound=outbound,
                    tokens=self.rate_burst, rate=self.rate_per_second, burst=self.rate_burst)
        self.links[pubkey] = link
        self._backoff.pop(pubkey, None)
        link.tasks = [
            asyncio.create_task(self._read_loop(link, reader), name=f"p2p-read-{addr.name}"),
            asyncio.create_task(self._write_loop(link), name=f"p2p-write-{addr.name}"),
        ]
        log.info("event=peer_connected name=%s role=%s outbound=%s", addr.name, addr.role, outbound)
        self.bus.publish(PeerConnected(pubkey, addr.role))

    async def _read_loop(self, link: Link, reader: asyncio.StreamReader) -> None:
        reason = "closed by peer"
        try:
            while True:
                limit = self.max_frame_bytes()
                raw = await _read_frame(reader, limit)
                if not link.allow():
                    self._abuse()
                    reason = "flood: message rate limit exceeded"
                    break
                link.frames_in += 1
                try:
                    message = codec.decode(raw, max_bytes=limit)
                except ConsortiaError as exc:
                    self._abuse()
                    reason = f"malformed frame: {exc.message}"
                    break
                if not isinstance(message, dict) or not isinstance(message.get("t"), str):
                    self._abuse()
                    reason = "malformed frame: not a typed message"
                    break
                try:
                    self.on_message(link.pubkey, message)
                except ConsortiaError as exc:
                    log.info("event=peer_message_rejected name=%s reason=%r", link.name, exc.message)
                except Exception:
                    log.exception("event=peer_message_failed name=%s", link.name)
        except FrameTooLarge as exc:
            self._abuse()
            reason = str(exc)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            return
        self._close(link, reason)

    async def _write_loop(self, link: Link) -> None:
        try:
            while True:
                data = await link.queue.get()
                link.writer.write(_frame(data))
                link.frames_out += 1
                await link.writer.drain()  # back-pressure: a slow peer fills its own queue only
        except (ConnectionError, OSError, ssl.SSLError):
            self._close(link, "write failed")
        except asyncio.CancelledError:
            return

    def _abuse(self) -> None:
        self.closed_for_abuse += 1
        self.bus.publish(PeerRefused("abuse", abuse=True))

    def _close(self, link: Link, reason: str) -> None:
        if self.links.get(link.pubkey) is link:
            del self.links[link.pubkey]
            level = logging.WARNING if reason.startswith(("flood", "malformed", "frame")) else logging.INFO
            log.log(level, "event=peer_disconnected name=%s reason=%r", link.name, reason)
            self.bus.publish(PeerDisconnected(link.pubkey, reason))
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        try:
            link.writer.close()
        except Exception:
            pass


class FrameTooLarge(Exception):
    pass


def _frame(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME_BYTES) -> bytes:
    header = await reader.readexactly(4)
    (length,) = _LEN.unpack(header)
    if length > limit:
        raise FrameTooLarge(f"frame of {length} bytes exceeds {limit}")
    if length == 0:
        raise FrameTooLarge("empty frame")
    return await reader.readexactly(length)
