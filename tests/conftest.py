"""Shared fixtures: a genesis with one validator and one admin, for each crypto suite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from node.chain import Chain
from node.crypto import get_suite
from node.crypto.base import CryptoSuite, KeyPair
from node.genesis import Genesis, GenesisNode
from node.store.chainstore import ChainStore
from node.wire import codec
from node.wire.types import Transaction

SYSCONFIG = bytes(18) + (0x1000).to_bytes(2, "big")
COMMITTEE = bytes(18) + (0x4000).to_bytes(2, "big")


def set_param(key: str, value: int) -> dict[str, object]:
    """``TestNet.tx`` keywords for the one way to change a parameter: a set_param proposal, which a
    one-member committee (the test genesis's admin) passes and executes in the same transaction."""
    return {"to": COMMITTEE, "method": "propose", "args": {"type": "set_param", "payload": {"key": key, "value": value}}}


@dataclass
class TestNet:
    suite: CryptoSuite
    genesis: Genesis
    validator: KeyPair
    admin: KeyPair
    user: KeyPair

    def tx(self, key: KeyPair | None = None, *, to: bytes = SYSCONFIG, method: str = "list", args: object = None,
           expiry_height: int = 50, fuel_limit: int = 1_000_000, nonce: bytes | None = None,
           chain_id: str | None = None) -> Transaction:
        import secrets

        key = key or self.user
        tx = Transaction(
            chain_id=chain_id or self.genesis.chain_id,
            nonce=nonce or secrets.token_bytes(16),
            expiry_height=expiry_height,
            sender_pubkey=key.public_bytes,
            to=to,
            method=method,
            args=b"" if args is None else codec.encode(args),
            fuel_limit=fuel_limit,
        )
        sig = self.suite.sign(key.private_bytes, tx.signing_bytes())
        return Transaction(**{**tx.to_map(), "signature": sig})


def make_testnet(suite_name: str, params: dict[str, int] | None = None) -> TestNet:
    suite = get_suite(suite_name)
    validator, admin, user = suite.generate_keypair(), suite.generate_keypair(), suite.generate_keypair()
    genesis = Genesis(
        chain_id="test-chain",
        suite=suite_name,
        consensus="pbft",
        timestamp_ms=1_700_000_000_000,
        nodes=(GenesisNode("validator-0", "validator", validator.public_bytes, "127.0.0.1", 1),),
        admins=(suite.address(admin.public_bytes),),
        params=params or {},
    )
    return TestNet(suite=suite, genesis=genesis, validator=validator, admin=admin, user=user)


@pytest.fixture(params=["sm", "std"])
def testnet(request) -> TestNet:
    return make_testnet(request.param)


@pytest.fixture
def chain(testnet: TestNet, tmp_path: Path):
    store = ChainStore(tmp_path / "data")
    c = Chain(testnet.genesis, store)
    yield c
    store.close()


@pytest.fixture
async def node(tmp_path):
    """A single-validator node in this process with RPC on a free loopback port."""
    import aiohttp

    from node.consensus_engine import build_engine
    from node.metrics import NodeMetrics
    from node.rpc.env import NodeIdentity, RpcEnv
    from node.rpc.server import RpcServer

    net = make_testnet("std", params={"block_interval_ms": 50, "min_seal_ms": 5})
    store = ChainStore(tmp_path / "data")
    chain = Chain(net.genesis, store)
    # The real engine with n = 1: no peers, so nothing to send and nobody to sync from.
    engine = build_engine(chain, net.validator, send=lambda data: None, request_sync=lambda h, p: None,
                          offer_blocks=lambda p, h: None)
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=engine)
    rpc = RpcServer(env, host="127.0.0.1", port=0, max_body_bytes=64 * 1024, max_batch=10, max_ws_subscriptions=2)
    await rpc.start()
    await engine.start()
    async with aiohttp.ClientSession() as session:
        yield net, chain, rpc, session, f"http://127.0.0.1:{rpc.port}"
    await engine.stop()
    await rpc.stop()
    store.close()
