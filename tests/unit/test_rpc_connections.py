"""The RPC port's connection limits: a connection that never sends a whole request is closed after
``handshake_timeout``, pending connections are capped per source, and open ones in total."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.rpc.connections import RpcLimits
from tests.unit.rpc_node import rpc_node

GET = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 52\r\n\r\n" \
      b'{"jsonrpc": "2.0", "id": 1, "method": "node_info"}  '


async def _tcp(port: int, source: str = "127.0.0.1"):
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass  # drain a reply if there is one
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def _metric(n, name: str) -> str:
    async with n.session.get(n.url + "/metrics") as resp:
        text = await resp.text()
    return next((line for line in text.splitlines() if line.startswith(name)), "")


async def test_silent_and_slow_connections_are_closed_after_the_handshake_timeout(tmp_path: Path, caplog):
    async with rpc_node(tmp_path, run_engine=False, rpc_limits=RpcLimits(handshake_timeout=0.5)) as n:
        silent = await _tcp(n.rpc.port)
        loris = await _tcp(n.rpc.port)
        loris[1].write(b"POST / HTTP/1.1\r\nHost: x\r\n")  # headers begun, never finished
        served = await _tcp(n.rpc.port)
        served[1].write(GET)  # a whole request: served, and the connection is kept alive after it
        assert await _closed(silent[0], timeout=10) and await _closed(loris[0], timeout=10)
        assert b"200 OK" in await asyncio.wait_for(served[0].read(4096), 10)
        assert not await _closed(served[0], timeout=1.5)  # past the timeout: a client that asked stays
        assert (await n.call("chain_blockNumber"))["result"] == 0
        sample = await _metric(n, 'consortia_connections_refused_total{listener="rpc",reason="handshake_timeout"}')
        assert float(sample.split()[-1]) == 2, sample
        lines = [r.getMessage() for r in caplog.records if "event=connection_refused listener=rpc" in r.getMessage()]
        assert lines and all("addr=127.0.0.1 reason=handshake_timeout count=" in line for line in lines)
        for _, writer in (silent, loris, served):
            writer.close()


async def test_pending_connections_are_capped_per_source_and_open_ones_in_total(tmp_path: Path):
    limits = RpcLimits(max_pending=10, max_pending_per_ip=2, max_connections=5, handshake_timeout=30.0)
    async with rpc_node(tmp_path, run_engine=False, rpc_limits=limits) as n:
        held = [await _tcp(n.rpc.port, "127.0.0.2") for _ in range(2)]
        third = await _tcp(n.rpc.port, "127.0.0.2")
        assert await _closed(third[0], timeout=5)  # a third silent connection from one source
        assert (await n.call("chain_blockNumber"))["result"] == 0  # others are served meanwhile
        held += [await _tcp(n.rpc.port, f"127.0.0.{i}") for i in (3, 4)]
        await asyncio.sleep(0.3)
        # Five open (four silent and the client session's): the next is refused however it behaves.
        extra = await _tcp(n.rpc.port, "127.0.0.5")
        extra[1].write(GET)
        assert await _closed(extra[0], timeout=5)
        assert "too_many_connections" in str(n.rpc._listener.listener.refused)
        assert n.rpc._listener.listener.refused["too_many_from_source"] == 1
        for _, writer in held + [third, extra]:
            writer.close()
