"""A one-validator chain for business-contract tests: the freshly built wasm on the real runtime.

Accounts are named key pairs; genesis may give them roles. Each call is sealed in its own block,
so a receipt is the whole story of one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from node.chain import Chain
from node.crypto.base import KeyPair
from node.genesis import Genesis
from node.store.chainstore import ChainStore
from node.wire.types import STATUS_OK, Receipt
from tests.conftest import TestNet, make_testnet
from tests.unit.test_chain import seal

DIST = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist"
DEPLOY_FUEL = 100_000_000


@dataclass
class ContractChain:
    net: TestNet
    chain: Chain
    keys: dict[str, KeyPair] = field(default_factory=dict)

    @classmethod
    def open(cls, tmp_path: Path, suite: str = "std", names: tuple[str, ...] = (),
             roles: dict[str, list[str]] | None = None) -> ContractChain:
        """A chain whose accounts ``names`` exist as keys; ``roles`` maps a role to account names."""
        net = make_testnet(suite)
        keys = {"admin": net.admin, "user": net.user}
        for name in names:
            keys[name] = net.suite.generate_keypair()
        raw = net.genesis.to_json()
        raw["roles"] = {role: ["0x" + net.suite.address(keys[n].public_bytes).hex() for n in who]
                        for role, who in (roles or {}).items()}
        net.genesis = Genesis.from_json(raw)
        chain = Chain(net.genesis, ChainStore(tmp_path / "data"), wasm_cache_dir=tmp_path / "wasm-cache")
        return cls(net, chain, keys)

    def close(self) -> None:
        self.chain.store.close()

    def address(self, name: str) -> bytes:
        return self.net.suite.address(self.keys[name].public_bytes)

    def send(self, who: str, to: bytes, method: str, args: Any = None, fuel: int = 20_000_000) -> Receipt:
        tx = self.net.tx(self.keys[who], to=to, method=method, args=args, fuel_limit=fuel,
                         expiry_height=self.chain.height + 50)
        self.chain.submit(tx.encode())
        block = seal(self.chain, self.net.validator)
        return self.chain.store.receipts_at(block.header.height)[-1]

    def deploy(self, name: str, init_args: Any = None, who: str = "admin") -> bytes:
        args: dict[str, Any] = {"code": (DIST / f"{name}.wasm").read_bytes()}
        if init_args is not None:
            args["init_args"] = msgpack.packb(init_args)
        receipt = self.send(who, b"", "deploy", args, fuel=DEPLOY_FUEL)
        assert receipt.status == STATUS_OK, receipt.error
        return msgpack.unpackb(receipt.return_value)["address"]

    def ok(self, who: str, to: bytes, method: str, args: Any = None) -> Any:
        """Call and expect success; returns the decoded return value."""
        receipt = self.send(who, to, method, args)
        assert receipt.status == STATUS_OK, f"{method}: {receipt.error}"
        return msgpack.unpackb(receipt.return_value) if receipt.return_value else None

    def refused(self, who: str, to: bytes, method: str, args: Any, message: str) -> Receipt:
        """Call and expect a revert containing ``message`` that emitted nothing."""
        receipt = self.send(who, to, method, args)
        assert receipt.status != STATUS_OK, f"{method} should have been refused"
        assert message in receipt.error, receipt.error
        assert receipt.events == ()
        return receipt

    def query(self, to: bytes, method: str, args: Any = None) -> Any:
        raw = self.chain.query(to, method, msgpack.packb(args) if args is not None else b"")
        return msgpack.unpackb(raw) if raw else None


@pytest.fixture
async def biz_node(tmp_path: Path):
    """A single-validator node with RPC (bodies up to 1 MiB, for contract code) and named, role-holding keys.

    Yields ``(net, keys, url)``: ``keys`` maps admin, user, issuer, regulator, provider, bank, hospital to key pairs;
    issuer holds credential_issuer, regulator holds regulator, provider holds algorithm_provider.
    """
    from node.consensus_engine import build_engine
    from node.metrics import NodeMetrics
    from node.rpc.env import NodeIdentity, RpcEnv
    from node.rpc.server import RpcServer

    net = make_testnet("std", params={"block_interval_ms": 50, "min_seal_ms": 5})
    keys = {"admin": net.admin, "user": net.user}
    for name in ("issuer", "regulator", "provider", "bank", "hospital"):
        keys[name] = net.suite.generate_keypair()
    raw = net.genesis.to_json()
    roles = {"credential_issuer": "issuer", "regulator": "regulator", "algorithm_provider": "provider"}
    raw["roles"] = {role: ["0x" + net.suite.address(keys[who].public_bytes).hex()] for role, who in roles.items()}
    net.genesis = Genesis.from_json(raw)
    store = ChainStore(tmp_path / "data")
    chain = Chain(net.genesis, store, wasm_cache_dir=tmp_path / "wasm-cache")
    engine = build_engine(chain, net.validator, send=lambda data: None, request_sync=lambda h, p: None,
                          offer_blocks=lambda p, h: None)
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=engine)
    rpc = RpcServer(env, host="127.0.0.1", port=0, max_body_bytes=1 << 20, max_batch=10, max_ws_subscriptions=2)
    await rpc.start()
    await engine.start()
    yield net, keys, f"http://127.0.0.1:{rpc.port}"
    await engine.stop()
    await rpc.stop()
    store.close()
