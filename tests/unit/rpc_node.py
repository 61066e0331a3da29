"""An in-process node serving JSON-RPC on a free loopback port, configurable per test
(CORS allow-list, pool limits, with or without the consensus engine running)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from node.chain import Chain
from node.consensus_engine import build_engine
from node.metrics import NodeMetrics
from node.rpc.access import AccessPolicy
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.server import RpcServer
from node.store.chainstore import ChainStore
from node.txpool import PoolLimits
from tests.conftest import TestNet, make_testnet


@dataclass
class RpcNode:
    net: TestNet
    chain: Chain
    rpc: RpcServer
    session: aiohttp.ClientSession
    url: str

    async def post(self, body: object, *, content_type: str | None = "application/json",
                   headers: dict[str, str] | None = None) -> tuple[int, object, dict[str, str]]:
        """POST ``body`` (JSON-encoded unless bytes/str); returns (status, decoded reply or None, headers)."""
        import json

        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        async with self.session.post(self.url, data=data, headers=sent, skip_auto_headers=["Content-Type"]) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None), dict(resp.headers)

    async def call(self, method: str, params: object = None) -> dict[str, object]:
        body: dict[str, object] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        status, reply, _ = await self.post(body)
        assert isinstance(reply, dict), (status, reply)
        return reply


@asynccontextmanager
async def rpc_node(tmp_path: Path, *, suite: str = "std", cors_origins: tuple[str, ...] = (),
                   pool_limits: PoolLimits | None = None, run_engine: bool = True, max_body_bytes: int = 64 * 1024,
                   params: dict[str, int] | None = None, access: AccessPolicy | None = None) -> AsyncIterator[RpcNode]:
    net = make_testnet(suite, params={"block_interval_ms": 50, "min_seal_ms": 5, **(params or {})})
    store = ChainStore(tmp_path / "data")
    chain = Chain(net.genesis, store, pool_limits=pool_limits, wasm_cache_dir=tmp_path / "wasm-cache")
    engine = build_engine(chain, net.validator, send=lambda data: None, request_sync=lambda h, p: None,
                          offer_blocks=lambda p, h: None)
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=engine, access=access)
    rpc = RpcServer(env, host="127.0.0.1", port=0, max_body_bytes=max_body_bytes, max_batch=10, max_ws_subscriptions=2,
                    cors_origins=cors_origins)
    await rpc.start()
    if run_engine:
        await engine.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield RpcNode(net, chain, rpc, session, f"http://127.0.0.1:{rpc.port}")
    finally:
        if run_engine:
            await engine.stop()
        await rpc.stop()
        store.close()
