"""Attacks on the peer and RPC ports of real node processes on loopback (issue 19).

The flooded validator runs with an open-file limit of 1024 (soft and hard, as ``ulimit -n 1024``
would), the common default that a flood of half-open connections used to exhaust in seconds.
The floods come from many loopback source addresses (127.0.0.2 and up), so per-address caps
alone cannot stop them; the probes come from 127.0.0.1 on fresh connections, as a new client's
would."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
import struct
import time

import aiohttp
import pytest

from node.config import NodeConfig
from node.crypto import get_suite
from node.devnet import LocalNet, LocalNode, make_local_net
from node.p2p.certs import make_ca, write_node_tls
from node.p2p.transport import tls_contexts
from node.wire import codec
from tests.integration.test_consensus_network import PARAMS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPEN_FILES = 1024
FLOOD_RATE = 300  # new connections per second
FLOOD_SECONDS = 6.0
SOURCES = [f"127.0.0.{i}" for i in range(2, 202)]


async def _rpc(url: str, method: str, params: list | None = None, timeout: float = 10.0):
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection per call, as a new client makes
    async with aiohttp.ClientSession(connector=connector) as session:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return (await resp.json())["result"]


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return await resp.text()


async def _half_open_flood(port: int, stop: asyncio.Event) -> list[socket.socket]:
    """Open FLOOD_RATE TCP connections per second to ``port`` and never send a byte on them."""
    held: list[socket.socket] = []
    tick = 0.05
    n = 0
    while not stop.is_set():
        for _ in range(int(FLOOD_RATE * tick)):
            s = socket.socket()
            s.setblocking(False)
            s.bind((SOURCES[n % len(SOURCES)], 0))
            n += 1
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                continue
            held.append(s)
        await asyncio.sleep(tick)
    return held


async def _flood_and_probe(net: LocalNet, target: LocalNode, port: int) -> tuple[list[str], int, int]:
    """Flood ``port`` for FLOOD_SECONDS while asking ``target`` for its height every half second on a
    new connection; (failed probes, height before, height after)."""
    before = await _rpc(target.url, "chain_blockNumber")
    stop = asyncio.Event()
    flood = asyncio.create_task(_half_open_flood(port, stop))
    failures: list[str] = []
    deadline = time.monotonic() + FLOOD_SECONDS
    height = before
    while time.monotonic() < deadline:
        try:
            height = await _rpc(target.url, "chain_blockNumber")
        except (aiohttp.ClientError, TimeoutError) as exc:
            failures.append(repr(exc))
        await asyncio.sleep(0.5)
    stop.set()
    held = await flood
    try:
        assert len(held) >= FLOOD_RATE * FLOOD_SECONDS * 0.5, "the flood did not get going"
        return failures, before, height
    finally:
        for s in held:
            s.close()


def _configure(node: LocalNode, **config) -> None:
    cfg = NodeConfig.load(node.home)
    for name, value in config.items():
        section, key = name.split(".")
        setattr(getattr(cfg, section), key, value)
    cfg.save(node.home)


def _network(tmp_path, **config) -> LocalNet:
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    target = net.nodes[0]
    target.open_files = OPEN_FILES
    _configure(target, **config)
    return net


def _p2p_port(net: LocalNet, node: LocalNode) -> int:
    return next(n.p2p_port for n in net.genesis.nodes if n.name == node.name)


@pytest.mark.parametrize("port, config", [
    ("p2p", {}),
    # Caps so high they never bind: only the descriptor reserve stands between the flood and the limit.
    ("p2p", {"p2p.max_pending": 100_000, "p2p.max_pending_per_ip": 100_000, "p2p.handshake_timeout": 60.0}),
    ("rpc", {}),
], ids=["p2p", "p2p-descriptor-reserve", "rpc"])
async def test_a_half_open_flood_does_not_stop_rpc_or_consensus(tmp_path, port, config):
    net = _network(tmp_path, **config)
    target = net.nodes[0]
    net.start()
    try:
        await net.wait_ready(60)
        flood_port = _p2p_port(net, target) if port == "p2p" else target.rpc_port
        failures, before, after = await _flood_and_probe(net, target, flood_port)
        assert failures == [], f"RPC stopped answering during the flood: {failures[:3]}"
        assert after >= before + 3, f"the flooded validator stopped committing ({before} -> {after})"
        others = [await _rpc(n.url, "chain_blockNumber") for n in net.nodes[1:]]
        assert min(others) >= before + 3
        await asyncio.sleep(1.5)  # the flood's sockets are closed; the node is still whole
        assert target.proc is not None and target.proc.poll() is None
        assert await _rpc(target.url, "chain_blockNumber") > after - 1
        metrics = await _metrics(target.url)
        log = target.log_path.read_text(errors="replace")
        assert "Traceback" not in log and "Too many open files" not in log, log[-3000:]
        lines = log.splitlines()
        refusal_lines = [line for line in lines if "event=connection_refused" in line or "event=peer_refused" in line]
        # One line per source and reason per interval (there are 200 sources), never one per socket.
        assert len(refusal_lines) < 2 * len(SOURCES) * 2, len(refusal_lines)
        assert all(" count=" in line for line in refusal_lines)
        if config:
            assert 'consortia_connections_refused_total{listener="p2p",reason="fd_reserve"}' in metrics, metrics
        elif port == "p2p":
            assert 'listener="p2p",reason="evicted"' in metrics or 'reason="handshake_timeout"' in metrics, metrics
        else:
            assert 'listener="rpc"' in metrics, metrics
        assert "event=open_files soft=1024 hard=1024" in log
    finally:
        net.stop()


# --- impostors and strangers on the peer port ------------------------------------------------------


def _frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


async def _present(ctx: ssl.SSLContext, port: int, hello: dict | None) -> bytes:
    """Connect with ``ctx``, send ``hello``, and return what the node sends before it closes."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 10)
    except (ssl.SSLError, OSError, TimeoutError):
        return b""
    try:
        if hello is not None:
            writer.write(_frame(codec.encode(hello)))
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 15)
    except (ssl.SSLError, OSError, TimeoutError):
        return b""
    finally:
        writer.close()


async def _peers(url: str) -> dict[str, dict]:
    return {p["name"]: p for p in await _rpc(url, "node_peers")}


async def test_impostors_cannot_evict_a_real_peer_and_every_refusal_is_logged(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    # The validator with the smallest key dials every other one, and none of them ever dials it:
    # an impostor that replaced one of its links would cut that validator off for good.
    low = min(net.nodes, key=lambda n: n.key.public_bytes)
    victim = next(n for n in net.nodes if n is not low)
    net.start()
    try:
        await net.wait_ready(60)
        deadline = time.monotonic() + 30
        while len(await _peers(low.url)) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        real = (await _peers(low.url))[victim.name]
        assert real["outbound"] is True
        genesis = get_suite(net.genesis.suite).hash(net.genesis.block()[0].header.encode())
        low_port = _p2p_port(net, low)
        _, victim_ctx = tls_contexts(victim.home)  # the victim's own TLS files, as a thief would hold them
        _, low_ctx = tls_contexts(low.home)
        before = await _rpc(low.url, "chain_blockNumber")
        for _ in range(5):
            # The victim's certificate at the low node: the victim never dials it (wrong direction).
            got = await _present(victim_ctx, low_port, {"t": "hello", "chain_id": net.genesis.chain_id, "genesis": genesis,
                                                        "pubkey": victim.key.public_bytes})
            assert got == b"", "the node answered an impostor's hello"
            # The low node's certificate at the victim: the right direction, but the real link is healthy.
            got = await _present(low_ctx, _p2p_port(net, victim), {"t": "hello", "chain_id": net.genesis.chain_id,
                                                                   "genesis": genesis, "pubkey": low.key.public_bytes})
            assert got == b"", "the node answered an impostor's hello"
        now = (await _peers(low.url))[victim.name]
        assert (now["outbound"], now["connected_since"]) == (True, real["connected_since"]), "the real link was replaced"
        assert (await _peers(victim.url))[low.name]["connected_since"] <= real["connected_since"] + 1
        deadline = time.monotonic() + 15  # blocks come every 200 ms; the refusals above may take no time at all
        while await _rpc(low.url, "chain_blockNumber") < before + 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await _rpc(low.url, "chain_blockNumber") >= before + 2, "the chain stopped"

        # Strangers: no certificate, another CA, a CA-signed node that is not in the node list.
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bare.check_hostname, bare.verify_mode = False, ssl.CERT_NONE
        rogue_home, outsider_home = tmp_path / "rogue", tmp_path / "outsider"
        stranger = net.nodes[0].key  # any chain key: the certificate is what is refused
        write_node_tls(rogue_home, make_ca("rogue"), "rogue", stranger.public_bytes)
        write_node_tls(outsider_home, make_ca("unused"), "outsider", b"\x01" * 32)
        _, rogue_ctx = tls_contexts(rogue_home)
        rogue_ctx.verify_mode = ssl.CERT_NONE
        for ctx in (bare, rogue_ctx):
            for _ in range(20):
                await _present(ctx, low_port, None)
        await asyncio.sleep(1.0)
        log = low.log_path.read_text(errors="replace")
        conflicts = [line for line in log.splitlines() if "event=peer_conflict" in line]
        assert conflicts and all("level=warning" in line.lower() and "compromised" in line for line in conflicts)
        assert any(f"name={victim.name} " in line and "reason=wrong_direction" in line for line in conflicts)
        victim_log = victim.log_path.read_text(errors="replace")
        assert any(f"name={low.name} " in line and "reason=link_conflict" in line
                   for line in victim_log.splitlines() if "event=peer_conflict" in line)
        refused = [line for line in log.splitlines() if "event=peer_refused" in line]
        for reason in ("no_client_cert", "unknown_ca"):
            mine = [line for line in refused if f"reason={reason}" in line]
            assert mine and all("addr=127.0.0.1" in line for line in mine), reason
            assert len(mine) <= 3, f"{reason}: {len(mine)} lines for 20 refusals"  # rate-limited
        metrics = await _metrics(low.url)
        for reason in ("no_client_cert", "unknown_ca", "wrong_direction"):
            sample = next(line for line in metrics.splitlines() if f'refused_by_reason_total{{reason="{reason}"}}' in line)
            assert float(sample.split()[-1]) >= 5, sample
        assert json.loads(json.dumps(await _peers(low.url)))[victim.name]["outbound"] is True
    finally:
        net.stop()


async def test_a_dead_link_is_noticed_by_keepalives_and_replaced(tmp_path):
    """A peer whose process hangs (SIGSTOP: its kernel still holds the connection open, so no FIN
    ever comes) is noticed within the idle timeout, and the link is dialled anew once it is back."""
    import os
    import signal

    net = make_local_net(tmp_path, "std", validators=4, params=PARAMS)
    for node in net.nodes:
        _configure(node, **{"p2p.keepalive_interval": 0.5, "p2p.idle_timeout": 2.0})
    low = min(net.nodes, key=lambda n: n.key.public_bytes)  # it dials the hung one, so it must notice
    hung = next(n for n in net.nodes if n is not low)
    net.start()
    try:
        await net.wait_ready(60)
        deadline = time.monotonic() + 30
        while hung.name not in await _peers(low.url) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        first = (await _peers(low.url))[hung.name]["connected_since"]
        assert hung.proc is not None
        os.kill(hung.proc.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 20
            while hung.name in await _peers(low.url) and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
            assert hung.name not in await _peers(low.url), "the hung peer's link was never closed"
            await asyncio.sleep(1.5)  # so the new link's connected_since differs from the first one
        finally:
            os.kill(hung.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while hung.name not in await _peers(low.url) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        again = (await _peers(low.url)).get(hung.name)
        assert again is not None and again["outbound"] is True and again["connected_since"] > first
        log = low.log_path.read_text(errors="replace")
        assert any(f"name={hung.name} " in line and "reason='idle: nothing received" in line
                   for line in log.splitlines() if "event=peer_disconnected" in line)
        before = await _rpc(hung.url, "chain_blockNumber")
        deadline = time.monotonic() + 30
        while await _rpc(hung.url, "chain_blockNumber") < before + 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert await _rpc(hung.url, "chain_blockNumber") >= before + 3, "the resumed validator does not follow the chain"
    finally:
        net.stop()
