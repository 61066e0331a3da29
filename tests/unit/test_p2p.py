"""Peer links over mutual TLS: who gets in, and what a hostile peer can and cannot do."""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from pathlib import Path

import pytest

from node.crypto import get_suite
from node.devnet import free_port
from node.p2p.certs import make_ca, write_node_tls
from node.p2p.transport import P2PNetwork, PeerAddress, tls_contexts
from node.wire import codec

GENESIS = b"\x11" * 32


class Peer:
    def __init__(self, tmp: Path, name: str, ca, suite, directory, **kw) -> None:
        self.key = suite.generate_keypair()
        self.home = tmp / name
        write_node_tls(self.home, ca, name, self.key.public_bytes)
        self.port = free_port()
        self.name = name
        self.inbox: list[tuple[bytes, dict]] = []
        self.directory = directory
        self.kw = kw

    def network(self) -> P2PNetwork:
        self.net = P2PNetwork(home=self.home, my_pubkey=self.key.public_bytes, host="127.0.0.1", port=self.port,
                              chain_id="p2p-test", genesis_hash=self.kw.pop("genesis", GENESIS), directory=lambda: self.directory,
                              on_message=lambda peer, msg: self.inbox.append((peer, msg)), **self.kw)
        return self.net

    def address(self) -> PeerAddress:
        return PeerAddress(self.key.public_bytes, self.name, "validator", "127.0.0.1", self.port)


async def until(cond, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@pytest.fixture
def pair(tmp_path):
    suite = get_suite("std")
    ca = make_ca("test")
    directory: list[PeerAddress] = []
    a = Peer(tmp_path, "a", ca, suite, directory, rate_per_second=50.0, rate_burst=100.0)
    b = Peer(tmp_path, "b", ca, suite, directory, rate_per_second=50.0, rate_burst=100.0)
    if b.key.public_bytes > a.key.public_bytes:
        a, b = b, a  # b has the smaller key: b dials a, so b's certificate may connect to a
    directory += [a.address(), b.address()]
    return suite, ca, directory, a, b


async def test_members_connect_and_exchange_messages(pair):
    suite, ca, directory, a, b = pair
    na, nb = a.network(), b.network()
    await na.start()
    await nb.start()
    try:
        assert await until(lambda: len(na.links) == 1 and len(nb.links) == 1)
        na.send(b.key.public_bytes, {"t": "status", "height": 5})
        nb.broadcast({"t": "status", "height": 6})
        assert await until(lambda: b.inbox and a.inbox)
        assert b.inbox[0] == (a.key.public_bytes, {"t": "status", "height": 5})
        assert a.inbox[0][1]["height"] == 6
    finally:
        await na.stop()
        await nb.stop()


async def _raw_client(home: Path, port: int):
    _, client_ctx = tls_contexts(home)
    return await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)


async def _hello(reader, writer, pubkey, genesis=GENESIS):
    writer.write(_frame(codec.encode({"t": "hello", "chain_id": "p2p-test", "genesis": genesis, "pubkey": pubkey})))
    await writer.drain()
    header = await reader.readexactly(4)
    await reader.readexactly(struct.unpack(">I", header)[0])


def _frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


async def test_certificate_from_another_ca_is_refused(pair, tmp_path):
    suite, ca, directory, a, b = pair
    rogue_ca = make_ca("rogue")
    rogue = Peer(tmp_path, "rogue", rogue_ca, suite, directory)
    directory.append(rogue.address())  # even a listed key does not help with a foreign CA
    na = a.network()
    await na.start()
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError, OSError)):
            reader, writer = await _raw_client(rogue.home, a.port)
            await _hello(reader, writer, rogue.key.public_bytes)
        assert not na.links
    finally:
        await na.stop()


async def test_member_of_the_ca_not_in_the_node_list_is_refused(pair, tmp_path):
    suite, ca, directory, a, b = pair
    outsider = Peer(tmp_path, "outsider", ca, suite, directory)  # right CA, but not on chain
    na = a.network()
    await na.start()
    try:
        reader, writer = await _raw_client(outsider.home, a.port)
        writer.write(_frame(codec.encode({"t": "hello", "chain_id": "p2p-test", "genesis": GENESIS, "pubkey": outsider.key.public_bytes})))
        await writer.drain()
        assert await reader.read() == b""  # closed without a hello
        assert not na.links and na.refused == 1
    finally:
        await na.stop()


async def test_other_genesis_is_refused(pair):
    suite, ca, directory, a, b = pair
    na = a.network()
    await na.start()
    try:
        reader, writer = await _raw_client(b.home, a.port)
        await _hello(reader, writer, b.key.public_bytes, genesis=b"\x22" * 32)
        assert await until(lambda: na.refused == 1)
        assert not na.links
    finally:
        await na.stop()


@pytest.mark.parametrize("attack", ["garbage", "oversized", "empty", "untyped", "flood", "byte_keys"])
async def test_hostile_frames_close_the_link_and_the_node_keeps_running(pair, attack):
    suite, ca, directory, a, b = pair
    na = a.network()
    await na.start()
    try:
        reader, writer = await _raw_client(b.home, a.port)
        await _hello(reader, writer, b.key.public_bytes)
        assert await until(lambda: len(na.links) == 1)
        if attack == "garbage":
            writer.write(_frame(b"\xc1\xc1\xc1"))
        elif attack == "oversized":
            writer.write(struct.pack(">I", 1 << 31))
        elif attack == "empty":
            writer.write(struct.pack(">I", 0))
        elif attack == "untyped":
            writer.write(_frame(codec.encode([1, 2, 3])))
        elif attack == "byte_keys":  # found by the fuzzers: a TypeError that killed the read loop, link left open
            import msgpack

            writer.write(_frame(msgpack.packb({"t": "status", b"height": 1}, use_bin_type=True)))
        else:
            for _ in range(400):
                writer.write(_frame(codec.encode({"t": "status", "height": 1})))
        await writer.drain()
        assert await until(lambda: not na.links)
        assert na.closed_for_abuse == 1
        # The node still accepts the honest peer afterwards.
        nb = b.network()
        await nb.start()
        assert await until(lambda: len(na.links) == 1)
        await nb.stop()
    finally:
        await na.stop()


@pytest.mark.parametrize("offload", [False, True])
async def test_forwarded_transaction_batches_are_admitted_once(tmp_path, testnet, offload):
    """A forwarded batch: valid ones enter the pool, duplicates and forgeries change nothing,
    and a batch seen again is skipped without decoding."""
    from node.chain import Chain
    from node.errors import ConsortiaError
    from node.events import TxAdmitted
    from node.p2p.service import NetworkService
    from node.sigverify import BatchVerifier
    from node.store.chainstore import ChainStore

    chain = Chain(testnet.genesis, ChainStore(tmp_path / "data"))
    write_node_tls(tmp_path, make_ca("test"), "v", testnet.validator.public_bytes)
    verifier = BatchVerifier(testnet.suite.name, workers=1 if offload else 0)
    verifier.start()
    chain.verifier = verifier
    service = NetworkService(chain, testnet.validator, tmp_path, "127.0.0.1", free_port())
    woken: list[bytes] = []
    chain.bus.subscribe(TxAdmitted, lambda event: woken.append(event.tx_hash))  # what wakes the engine
    try:
        good = [testnet.tx(testnet.user).encode() for _ in range(3)]
        forged = bytearray(testnet.tx(testnet.user).encode())
        forged[-3] ^= 0xFF  # inside the signature
        batch = {"t": "txs", "txs": good + [good[0], bytes(forged), b"\x93garbage"]}
        service.on_message(b"peer", batch)
        assert await until(lambda: service.tx_received == 3)
        assert len(chain.pool) == 3 and len(woken) == 3
        service.on_message(b"peer", {"t": "txs", "txs": good})  # seen: nothing decoded or admitted again
        await asyncio.sleep(0.05)
        assert service.tx_received == 3 and len(chain.pool) == 3
        with pytest.raises(ConsortiaError):
            service.on_message(b"peer", {"t": "txs", "txs": [1, 2]})
    finally:
        verifier.close()
        chain.store.close()


# --- attacks on the links themselves (issue 19) ---------------------------------------------------

FAST = dict(rate_per_second=50.0, rate_burst=100.0)


def _limits(**kw):
    from node.p2p.transport import PeerLimits

    return PeerLimits(**kw)


def _lines(caplog, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"event={event} " in r.getMessage()]


def _peer_below(target: Peer, ca, suite, directory, name: str = "ghost") -> Peer:
    """A listed peer whose key is smaller than ``target``'s, so it may dial ``target``."""
    for i in range(64):
        peer = Peer(target.home.parent, f"{name}{i}", ca, suite, directory)
        if peer.key.public_bytes < target.key.public_bytes:
            directory.append(peer.address())
            return peer
    raise AssertionError("no smaller key in 64 tries")


async def test_a_second_connection_with_a_linked_nodes_certificate_is_refused(pair, caplog):
    """An impostor holding b's TLS files cannot evict b's healthy link (it used to replace it)."""
    suite, ca, directory, a, b = pair
    na, nb = a.network(), b.network()
    await na.start()
    await nb.start()
    try:
        assert await until(lambda: len(na.links) == 1 and len(nb.links) == 1)
        real = na.links[b.key.public_bytes]
        reader, writer = await _raw_client(b.home, a.port)  # the impostor: b's certificate and key
        writer.write(_frame(codec.encode({"t": "hello", "chain_id": "p2p-test", "genesis": GENESIS, "pubkey": b.key.public_bytes})))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without our hello
        assert na.links[b.key.public_bytes] is real and nb.links[a.key.public_bytes].writer is not None
        assert na.conflicts == 1
        conflict = _lines(caplog, "peer_conflict")
        assert len(conflict) == 1 and f"name={b.name} " in conflict[0] and "reason=link_conflict" in conflict[0]
        assert "compromised" in conflict[0] and "addr=127.0.0.1" in conflict[0]
        na.send(b.key.public_bytes, {"t": "status", "height": 9})  # the real link still carries frames
        assert await until(lambda: any(m.get("height") == 9 for _, m in b.inbox))
    finally:
        await na.stop()
        await nb.stop()


async def test_inbound_from_the_side_that_should_be_dialled_is_refused(pair, caplog):
    """a has the larger key, so a never dials b: a connection to b presenting a's certificate is not a."""
    suite, ca, directory, a, b = pair
    nb = b.network()
    await nb.start()
    try:
        reader, writer = await _raw_client(a.home, b.port)
        writer.write(_frame(codec.encode({"t": "hello", "chain_id": "p2p-test", "genesis": GENESIS, "pubkey": a.key.public_bytes})))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert not nb.links and nb.conflicts == 1
        assert "reason=wrong_direction" in _lines(caplog, "peer_conflict")[0]
    finally:
        await nb.stop()


async def test_a_silent_link_is_replaced_by_a_new_connection(pair):
    """A link that has carried nothing for two keepalive intervals is taken to be dead."""
    suite, ca, directory, a, b = pair
    a.kw["limits"] = _limits(keepalive_interval=0.2, idle_timeout=30.0)
    na = a.network()
    await na.start()
    try:
        r1, w1 = await _raw_client(b.home, a.port)
        await _hello(r1, w1, b.key.public_bytes)
        assert await until(lambda: len(na.links) == 1)
        first = na.links[b.key.public_bytes]
        await asyncio.sleep(0.6)  # the raw client answers no pings
        r2, w2 = await _raw_client(b.home, a.port)
        await _hello(r2, w2, b.key.public_bytes)
        assert await until(lambda: na.links.get(b.key.public_bytes) not in (None, first))
        assert na.conflicts == 0
    finally:
        await na.stop()


async def test_keepalives_hold_a_quiet_link_and_a_dead_one_is_closed(pair):
    suite, ca, directory, a, b = pair
    # (Generous against a loaded machine: a loop stalled longer than idle_timeout drops a link.)
    a.kw["limits"] = b.kw["limits"] = _limits(keepalive_interval=0.2, idle_timeout=3.0)
    na, nb = a.network(), b.network()
    await na.start()
    await nb.start()
    try:
        assert await until(lambda: len(na.links) == 1 and len(nb.links) == 1)
        link = na.links[b.key.public_bytes]
        await asyncio.sleep(6.2)  # two idle timeouts without a single application frame
        assert na.links.get(b.key.public_bytes) is link and link.rtt is not None
        (peer,) = na.peers()
        assert peer["rtt_ms"] is not None and 0 <= peer["idle_ms"] < 3000
        # A peer that completes its hello and then falls silent (a dead host) is closed.
        ghost = _peer_below(a, ca, suite, directory)
        reader, writer = await _raw_client(ghost.home, a.port)
        await _hello(reader, writer, ghost.key.public_bytes)
        assert await until(lambda: ghost.key.public_bytes in na.links)
        assert await until(lambda: ghost.key.public_bytes not in na.links, timeout=15)
        # (Not the same link object: in the full suite on CI the loop was once held up long
        # enough for the idle timeout to replace it. The quiet link's survival is checked above.)
        assert await until(lambda: b.key.public_bytes in na.links)
    finally:
        await na.stop()
        await nb.stop()


def _self_signed_impostor(tmp: Path, victim: Peer) -> Path:
    """TLS files of a self-signed certificate that names ``victim``'s chain key (no CA key needed)."""
    from node.p2p.certs import CA_CERT, NODE_CERT, NODE_KEY, TLS_DIR, issue_node_cert

    own_ca = make_ca("impostor")
    home = tmp / "impostor"
    (home / TLS_DIR).mkdir(parents=True)
    key_pem, cert_pem = issue_node_cert(own_ca, "impostor", victim.key.public_bytes)
    (home / TLS_DIR / NODE_KEY).write_bytes(key_pem)
    (home / TLS_DIR / NODE_CERT).write_bytes(cert_pem)
    (home / TLS_DIR / CA_CERT).write_bytes(victim.home.joinpath(TLS_DIR, CA_CERT).read_bytes())  # it trusts us
    return home


async def _attempt(ctx: ssl.SSLContext, port: int) -> None:
    """Connect, then wait for the server to close; any error is the refusal showing up here."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 10)
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
        pass


@pytest.mark.parametrize("who", ["no_client_cert", "unknown_ca", "self_signed", "not_in_node_list"])
async def test_refusals_during_tls_are_logged_with_address_and_reason_and_counted(pair, tmp_path, caplog, who):
    from node.events import PeerRefused

    suite, ca, directory, a, b = pair
    na = a.network()
    codes: list[str] = []
    na.bus.subscribe(PeerRefused, lambda e: codes.append(e.code))
    await na.start()
    try:
        if who == "no_client_cert":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            expected = "no_client_cert"
        elif who == "unknown_ca":
            rogue = Peer(tmp_path, "rogue", make_ca("rogue"), suite, directory)
            _, ctx = tls_contexts(rogue.home)
            ctx.verify_mode = ssl.CERT_NONE
            expected = "unknown_ca"
        elif who == "self_signed":
            _, ctx = tls_contexts(_self_signed_impostor(tmp_path, b))
            expected = "unknown_ca"
        else:
            outsider = Peer(tmp_path, "outsider", ca, suite, [])
            _, ctx = tls_contexts(outsider.home)
            expected = "not_in_node_list"
        if who != "not_in_node_list":
            ctx.check_hostname = False
        await _attempt(ctx, a.port)
        assert await until(lambda: na.refused == 1)
        lines = _lines(caplog, "peer_refused")
        assert len(lines) == 1, lines
        assert f"reason={expected}" in lines[0] and "addr=127.0.0.1" in lines[0] and "count=1" in lines[0]
        assert codes == [expected] and not na.links
    finally:
        await na.stop()


async def _tcp(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection that never starts TLS (half-open for the peer layer)."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed(reader: asyncio.StreamReader, timeout: float = 10.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except (ConnectionError, TimeoutError):
        return False


async def test_a_handshake_that_never_starts_is_dropped_after_the_timeout(pair, caplog):
    suite, ca, directory, a, b = pair
    a.kw["limits"] = _limits(handshake_timeout=0.5)
    na = a.network()
    await na.start()
    try:
        reader, writer = await _tcp(a.port)
        assert await _closed(reader, timeout=10)  # asyncio's own default would hold it for 60 s
        assert await until(lambda: na.refused == 1)
        assert "reason=handshake_timeout" in _lines(caplog, "peer_refused")[0]
        writer.close()
    finally:
        await na.stop()


async def test_pending_handshakes_are_capped_per_source_and_the_oldest_makes_room(pair, caplog):
    suite, ca, directory, a, b = pair
    a.kw["limits"] = _limits(handshake_timeout=30.0, max_pending=3, max_pending_per_ip=2)
    na = a.network()
    await na.start()
    held = []
    try:
        held = [await _tcp(a.port) for _ in range(2)]
        over = [await _tcp(a.port) for _ in range(3)]
        for reader, _ in over:  # over the per-source cap: closed at once
            assert await _closed(reader, timeout=5)
        held.append(await _tcp(a.port, source="127.0.0.2"))  # another source still gets in, up to the total
        held.append(await _tcp(a.port, source="127.0.0.3"))  # over the total: the oldest pending one goes
        assert await _closed(held[0][0], timeout=5)
        assert na.listener.refused == {"too_many_from_source": 3, "evicted": 1}
        lines = _lines(caplog, "connection_refused")
        assert len(lines) == 2 and "listener=p2p addr=127.0.0.1 reason=too_many_from_source count=1" in lines[0]
        # With all pending slots taken by silent connections, an honest peer still gets in.
        nb = b.network()
        await nb.start()
        assert await until(lambda: len(na.links) == 1)
        await nb.stop()
    finally:
        for _, writer in held:
            writer.close()
        await na.stop()


async def test_refusals_from_one_source_are_one_line_per_interval_with_a_count(pair, caplog):
    suite, ca, directory, a, b = pair
    a.kw["limits"] = _limits(log_interval=1.0)
    na = a.network()
    await na.start()
    try:
        outsider = Peer(a.home.parent, "outsider", ca, suite, [])
        _, ctx = tls_contexts(outsider.home)
        started = time.monotonic()
        for _ in range(30):
            await _attempt(ctx, a.port)
        assert await until(lambda: na.refused == 30)
        elapsed = time.monotonic() - started
        await asyncio.sleep(2.5)  # the listener flushes the last window's count
        lines = _lines(caplog, "peer_refused")
        assert 2 <= len(lines) <= 2 + 2 * elapsed, lines  # one per interval (plus the flush), never one per refusal
        assert lines[0].endswith("count=1")
        assert sum(int(line.rsplit("count=", 1)[1]) for line in lines) == 30
    finally:
        await na.stop()
