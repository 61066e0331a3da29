"""Peer links over mutual TLS: who gets in, and what a hostile peer can and cannot do."""

from __future__ import annotations

import asyncio
import ssl
import struct
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


async def test_duplicate_connection_replaces_the_old_one(pair):
    suite, ca, directory, a, b = pair
    na = a.network()
    await na.start()
    try:
        r1, w1 = await _raw_client(b.home, a.port)
        await _hello(r1, w1, b.key.public_bytes)
        assert await until(lambda: len(na.links) == 1)
        first = na.links[b.key.public_bytes]
        r2, w2 = await _raw_client(b.home, a.port)
        await _hello(r2, w2, b.key.public_bytes)
        assert await until(lambda: na.links.get(b.key.public_bytes) is not first)
        assert len(na.links) == 1
        assert await r1.read() == b""  # the old connection was closed
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
