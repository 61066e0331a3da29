"""Authenticated peer links: mutual TLS, a hello with the chain identity, length-prefixed frames.

Each pair of nodes keeps one connection, dialled by the node with the smaller public key (so two
nodes never race to connect to each other). A connection is kept only if the peer's certificate
chains to the consortium CA, names a public key that is in the on-chain node list, comes from the
direction the dial rule allows, does not compete with a healthy link to the same node, and its
hello carries the same chain id and genesis hash. Frames are a 4-byte big-endian length plus
canonical msgpack; oversized or malformed frames and floods close the link with a log line.

Before a peer is known it costs us little: the port is a ``GuardedListener`` (pending
handshakes capped in total and per address, descriptors kept in reserve), the TLS handshake and
hello must finish within ``handshake_timeout``, and every refusal is one rate-limited log line
per source with a count. Links ping each other every ``keepalive_interval`` and a link that
hears nothing for ``idle_timeout`` is closed, so a dead link is noticed and re-dialled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError, ConsortiaError
from node.events import EventBus, PeerConnected, PeerDisconnected, PeerRefused
from node.fdlimit import FdGauge
from node.keyfile import PassphraseSource
from node.listener import GuardedListener, ListenerLimits
from node.p2p.certs import CA_CERT, NODE_CERT, NODE_KEY, TLS_DIR, node_pubkey_from_cert
from node.p2p.tlskey import tls_password
from node.ratelog import RateLimitedLog
from node.wire import codec

log = logging.getLogger("consortia.p2p")

HELLO_MAX_BYTES = 64 * 1024  # a hello is a few hundred bytes: nothing bigger before a peer is known
MAX_FRAME_BYTES = 32 * 1024 * 1024  # the default limit, for a network service that does not derive one from the chain
SEND_QUEUE_LIMIT = 4096
RATE_PER_SECOND = 20_000.0
RATE_BURST = 40_000.0
_LEN = struct.Struct(">I")
COMPROMISE_NOTE = "another connection presents this node's certificate: its TLS key may be compromised"

Handler = Callable[[bytes, dict[str, Any]], None]


def tls_contexts(home: Path, passphrase: PassphraseSource | None = None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts requiring a certificate from the consortium CA on both sides.

    An encrypted ``tls/node.key`` opens with the passphrase that opened it at start
    (``node.app.open_node``), else with ``passphrase`` (default: the environment or a prompt)."""
    tls = home / TLS_DIR
    for name in (CA_CERT, NODE_CERT, NODE_KEY):
        if not (tls / name).exists():
            raise ConfigError(f"{tls / name} is missing (re-run 'consortia net init' to issue node certificates)")
    password = tls_password(home, passphrase)  # "" for a plaintext key: OpenSSL never prompts on a terminal
    contexts = []
    for purpose in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        try:
            ctx.load_cert_chain(tls / NODE_CERT, tls / NODE_KEY, password=lambda: password)
        except ssl.SSLError as exc:
            raise ConfigError(f"{tls / NODE_CERT} with {tls / NODE_KEY} cannot be loaded ({exc.reason or exc})") from None
        ctx.load_verify_locations(tls / CA_CERT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = False  # peers are identified by the node key in their certificate
        contexts.append(ctx)
    return contexts[0], contexts[1]


@dataclass(frozen=True)
class PeerLimits:
    """What a connection may cost before and after it is authenticated (config ``[p2p]``)."""

    handshake_timeout: float = 5.0  # seconds for TLS and the hello together
    max_pending: int = 256  # connections still in their handshake, in total (the oldest makes room)
    max_pending_per_ip: int = 8  # ... and from one source address
    fd_reserve: int = 128  # refuse new connections within this many descriptors of the soft limit
    keepalive_interval: float = 5.0  # ping a link this often
    idle_timeout: float = 20.0  # close a link that has sent nothing for this long
    log_interval: float = 10.0  # refusal lines: at most one per source and reason per interval

    @property
    def stale_after(self) -> float:
        """A link silent this long (two missed pings) may be replaced by a new connection."""
        return 2 * self.keepalive_interval

    def listener(self) -> ListenerLimits:
        return ListenerLimits(max_pending=self.max_pending, max_pending_per_ip=self.max_pending_per_ip,
                              fd_reserve=self.fd_reserve, handshake_timeout=self.handshake_timeout)


class Refused(Exception):
    """A handshake refused for ``code`` (a metrics label), with a human ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# Certificate verification codes (X509_V_ERR_*) that mean "not signed by our CA".
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}


def classify_failure(exc: BaseException) -> Refused:
    """What a failed TLS handshake or hello means, as a refusal code and detail."""
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, ConsortiaError):
        return Refused("bad_hello", exc.message)
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = "unknown_ca" if exc.verify_code in _UNKNOWN_ISSUER else "bad_cert"
        return Refused(code, str(exc.verify_message))
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc.__class__.__name__)
        if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return Refused("no_client_cert", "no client certificate")
        if "ALERT" in reason:
            return Refused("tls_alert", f"the peer aborted TLS ({reason})")  # it refused our certificate
        if "CERTIFICATE" in reason:
            return Refused("bad_cert", reason)
        return Refused("tls_error", reason)
    if isinstance(exc, TimeoutError):
        return Refused("handshake_timeout", "handshake not finished in time")
    if isinstance(exc, FrameTooLarge):
        return Refused("bad_hello", str(exc))
    return Refused("connection_lost", f"connection lost during the handshake ({exc.__class__.__name__})")


@dataclass
class PeerAddress:
    pubkey: bytes
    name: str
    role: str
    host: str
    port: int


@dataclass
class PeerTraffic:
    """What passed between this node and one peer over all its links since the process started
    (``Link`` counts one link; this outlives reconnections, so metrics read it as counters)."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0  # frame bytes, length prefix included (TLS overhead not)
    bytes_out: int = 0
    dropped_out: int = 0  # frames not sent: the peer's send queue was full


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
    last_received: float = field(default_factory=time.monotonic)
    pings: int = 0
    ping_sent: float = 0.0
    rtt: float | None = None
    traffic: PeerTraffic = field(default_factory=PeerTraffic)

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
        limits: PeerLimits | None = None,
        fds: FdGauge | None = None,
    ) -> None:
        self.limits = limits if limits is not None else PeerLimits()
        self.fds = fds if fds is not None else FdGauge()
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
        self.traffic: dict[str, PeerTraffic] = {}  # by peer name, over all links (read by node.metrics)
        self._dialer: asyncio.Task[None] | None = None
        self._backoff: dict[bytes, tuple[float, float]] = {}
        self.refused = 0
        self.conflicts = 0
        self.closed_for_abuse = 0
        self.ratelog = RateLimitedLog(log, interval=self.limits.log_interval)
        self.listener = GuardedListener("p2p", host, port, limits=self.limits.listener(), handler=self._accept_socket,
                                        bus=self.bus, ratelog=self.ratelog, fds=self.fds)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.listener.start()
        self.port = self.listener.port
        self._dialer = asyncio.create_task(self._dial_loop(), name="p2p-dialer")
        log.info("event=p2p_listening addr=%s:%d handshake_timeout=%s max_pending=%d max_pending_per_ip=%d fd_reserve=%d",
                 self.host, self.port, self.limits.handshake_timeout, self.limits.max_pending, self.limits.max_pending_per_ip,
                 self.limits.fd_reserve)

    async def stop(self) -> None:
        if self._dialer is not None:
            self._dialer.cancel()
        await self.listener.stop()
        for link in list(self.links.values()):
            self._close(link, "shutdown")

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
            link.traffic.dropped_out += 1
            return False

    def peers(self) -> list[dict[str, Any]]:
        return [
            {"name": link.name, "role": link.role, "pubkey": "0x" + link.pubkey.hex(), "outbound": link.outbound,
             "frames_in": link.frames_in, "frames_out": link.frames_out, "dropped_out": link.dropped_out,
             "connected_since": int(link.since), "rtt_ms": None if link.rtt is None else round(link.rtt * 1000, 1),
             "idle_ms": int((time.monotonic() - link.last_received) * 1000)}
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
        timeout = self.limits.handshake_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(addr.host, addr.port, ssl=self.client_ctx, limit=MAX_FRAME_BYTES + 8,
                                        ssl_handshake_timeout=timeout), timeout
            )
        except ssl.SSLError as exc:  # something answers at the peer's address but fails TLS: say so
            self._refuse(addr.host, "outbound", classify_failure(exc))
            return
        except (TimeoutError, OSError):
            return  # the peer is down or unreachable: the dial loop backs off
        await self._handshake(reader, writer, ip=addr.host, deadline=deadline, expected=addr.pubkey)

    async def _accept_socket(self, sock: socket.socket, ip: str, done: Callable[[], None]) -> None:
        """An admitted inbound socket: TLS, then the hello, both within ``handshake_timeout``."""
        loop = asyncio.get_running_loop()
        timeout = self.limits.handshake_timeout
        deadline = loop.time() + timeout
        reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES + 8, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await asyncio.wait_for(
                loop.connect_accepted_socket(lambda: protocol, sock, ssl=self.server_ctx, ssl_handshake_timeout=timeout), timeout
            )
        except (TimeoutError, OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            sock.close()  # (a transport that was made has closed it already)
            self._refuse(ip, "inbound", classify_failure(exc))
            return
        except asyncio.CancelledError:  # evicted for a newer connection, or shutdown
            sock.close()
            raise
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await self._handshake(reader, writer, ip=ip, deadline=deadline, done=done)

    def _admissible(self, pubkey: bytes, *, expected: bytes | None) -> PeerAddress:
        """The known peer a verified certificate names, if a link to it may be made now; else Refused."""
        addr = self._known().get(pubkey)
        if addr is None:
            raise Refused("not_in_node_list", "certificate names a node that is not in the on-chain node list")
        if expected is not None:
            if pubkey != expected:
                raise Refused("wrong_identity", f"dialled {expected.hex()[:16]} but the certificate names {pubkey.hex()[:16]}")
            return addr
        if not pubkey < self.me:
            # The node with the smaller key dials: an honest peer never connects to us from this side.
            raise Refused("wrong_direction", "inbound connection from a node that should be dialled by us")
        old = self.links.get(pubkey)
        if old is not None:
            silent = time.monotonic() - old.last_received
            if silent < self.limits.stale_after:
                raise Refused("link_conflict", f"a healthy link to this node exists (last frame {silent:.1f} s ago)")
        return addr

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, ip: str, deadline: float,
                         expected: bytes | None = None, done: Callable[[], None] | None = None) -> None:
        """``expected``: the key we dialled (outbound); None for an inbound connection."""
        direction = "inbound" if expected is None else "outbound"
        pubkey = b""
        try:
            ssl_obj = writer.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            if not der:
                raise Refused("no_client_cert", "no client certificate")
            try:
                pubkey = node_pubkey_from_cert(der)
            except ConfigError as exc:
                raise Refused("bad_cert", exc.message) from None
            self._admissible(pubkey, expected=expected)
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
            await asyncio.wait_for(self._exchange_hello(reader, writer, pubkey), remaining)
            addr = self._admissible(pubkey, expected=expected)  # again: another connection may have won meanwhile
        except asyncio.CancelledError:
            _close_writer(writer)
            raise
        except (Refused, TimeoutError, ConsortiaError, OSError, EOFError, FrameTooLarge) as exc:
            refusal = classify_failure(exc)
            _close_writer(writer)
            if refusal.code in ("wrong_direction", "link_conflict", "wrong_identity"):
                self._conflict(ip, pubkey, refusal)
            else:
                self._refuse(ip, direction, refusal)
            return
        if done is not None:
            done()  # authenticated: no longer counts against the pending limits
        old = self.links.get(pubkey)
        if old is not None:
            self._close(old, f"replaced: no frame for {time.monotonic() - old.last_received:.1f} s")
        link = Link(pubkey=pubkey, name=addr.name, role=addr.role, writer=writer, outbound=expected is not None,
                    tokens=self.rate_burst, rate=self.rate_per_second, burst=self.rate_burst,
                    traffic=self.traffic.setdefault(addr.name, PeerTraffic()))
        self.links[pubkey] = link
        self._backoff.pop(pubkey, None)
        link.tasks = [
            asyncio.create_task(self._read_loop(link, reader), name=f"p2p-read-{addr.name}"),
            asyncio.create_task(self._write_loop(link), name=f"p2p-write-{addr.name}"),
            asyncio.create_task(self._keepalive(link), name=f"p2p-keepalive-{addr.name}"),
        ]
        log.info("event=peer_connected name=%s role=%s outbound=%s addr=%s", addr.name, addr.role, link.outbound, ip)
        self.bus.publish(PeerConnected(pubkey, addr.role))

    async def _exchange_hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pubkey: bytes) -> None:
        hello = {"t": "hello", "chain_id": self.chain_id, "genesis": self.genesis_hash, "pubkey": self.me}
        writer.write(_frame(codec.encode(hello)))
        await writer.drain()
        theirs = codec.decode(await _read_frame(reader, HELLO_MAX_BYTES))
        if not isinstance(theirs, dict) or theirs.get("t") != "hello":
            raise Refused("bad_hello", "expected hello")
        if theirs.get("pubkey") != pubkey:
            raise Refused("bad_hello", "hello key differs from the certificate's")
        if theirs.get("chain_id") != self.chain_id or theirs.get("genesis") != self.genesis_hash:
            raise Refused("wrong_chain", "peer is on another chain (chain id or genesis differs)")

    def _refuse(self, ip: str, direction: str, refusal: Refused) -> None:
        """Count, publish and log (one line per source and reason per interval) a refused peer."""
        self.refused += 1
        self.bus.publish(PeerRefused(refusal.detail, abuse=False, code=refusal.code))
        self.ratelog.log(logging.WARNING, ("refused", ip, refusal.code),
                         f"event=peer_refused addr={ip} direction={direction} reason={refusal.code} detail={refusal.detail!r}")

    def _conflict(self, ip: str, pubkey: bytes, refusal: Refused) -> None:
        """A valid certificate of a known node where that node cannot be: its key may be in other hands."""
        self.refused += 1
        self.conflicts += 1
        self.bus.publish(PeerRefused(refusal.detail, abuse=False, code=refusal.code))
        addr = self._known().get(pubkey)
        name = addr.name if addr is not None else "0x" + pubkey.hex()[:16]
        self.ratelog.log(logging.WARNING, ("conflict", name, refusal.code),
                         f"event=peer_conflict name={name} addr={ip} reason={refusal.code} detail={refusal.detail!r} "
                         f"note={COMPROMISE_NOTE!r}")

    async def _keepalive(self, link: Link) -> None:
        """Ping every ``keepalive_interval``; close the link after ``idle_timeout`` without a frame."""
        interval, idle_timeout = self.limits.keepalive_interval, self.limits.idle_timeout
        try:
            while True:
                await asyncio.sleep(interval)
                silent = time.monotonic() - link.last_received
                if silent > idle_timeout:
                    self._close(link, f"idle: nothing received for {silent:.1f} s")
                    return
                link.pings += 1
                link.ping_sent = time.monotonic()
                self._enqueue(link, codec.encode({"t": "ping", "n": link.pings}))
        except asyncio.CancelledError:
            return

    def _keepalive_frame(self, link: Link, message: dict[str, Any]) -> bool:
        """Answer a ping, time a pong; True if ``message`` was one of them."""
        kind = message["t"]
        if kind == "ping":
            self._enqueue(link, codec.encode({"t": "pong", "n": message.get("n")}))
            return True
        if kind == "pong":
            if message.get("n") == link.pings and link.ping_sent:
                link.rtt = time.monotonic() - link.ping_sent
            return True
        return False

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
                link.traffic.frames_in += 1
                link.traffic.bytes_in += len(raw) + _LEN.size
                link.last_received = time.monotonic()
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
                if self._keepalive_frame(link, message):
                    continue
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
                link.traffic.frames_out += 1
                link.traffic.bytes_out += len(data) + _LEN.size
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


def _close_writer(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except Exception:
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
