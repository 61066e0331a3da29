"""One small real chain for the fuzz targets that need state: a single validator, a few
committed blocks with certificates, honest state and receipt proofs, and an RPC dispatcher.

Built once per process in a temporary directory (removed at exit): the targets run millions of
inputs against it, so nothing here is rebuilt per input.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from node.chain import Chain
from node.chainview import ChainReader
from node.metrics import NodeMetrics
from node.params import param_key
from node.rpc.dispatch import Dispatcher
from node.rpc.env import NodeIdentity, RpcEnv
from node.rpc.handlers import all_methods
from node.rpc.jsonfmt import receipt_json
from node.store.chainstore import ChainStore
from tests.conftest import TestNet, make_testnet, set_param
from tests.unit.test_chain import seal


@dataclass(frozen=True)
class ProofCase:
    """An honest proof response and the truth it must never be bent away from."""

    response: dict[str, Any]
    key: bytes
    value: bytes | None  # what the state holds under ``key`` (None: absent)


@dataclass
class FuzzChain:
    net: TestNet
    chain: Chain
    dispatcher: Dispatcher
    loop: asyncio.AbstractEventLoop
    state_proofs: tuple[ProofCase, ...]
    receipt_proofs: tuple[tuple[dict[str, Any], bytes], ...]  # (tx_getReceipt answer with proof, tx hash)

    def rpc(self, body: bytes) -> Any:
        return self.loop.run_until_complete(self.dispatcher.handle_body(body))


@cache
def fuzz_chain() -> FuzzChain:
    root = Path(tempfile.mkdtemp(prefix="consortia-fuzz-"))
    atexit.register(shutil.rmtree, root, True)
    net = make_testnet("std")
    store = ChainStore(root / "data", create=True)
    chain = Chain(net.genesis, store, wasm_cache_dir=root / "wasm-cache")
    sent = []
    for i in range(3):
        tx = net.tx(net.admin, **set_param("block_interval_ms", 700 + i))
        sent.append(chain.submit(tx.encode()))
        seal(chain, net.validator)
    reader = ChainReader(chain.store, chain.suite, chain.genesis, chain.pool)
    cases = []
    for key in (param_key("block_interval_ms"), b"\x00" * 20 + b"absent", param_key("min_seal_ms")):
        for height in (1, chain.height):
            proof = reader.state_proof(key, height)
            assert proof is not None
            cases.append(ProofCase(proof.to_json(), key, proof.value))
    receipts = []
    for tx_hash in sent:
        found = reader.receipt(tx_hash)
        built = reader.receipt_proof(found.height, found.index) if found is not None else None
        assert found is not None and built is not None
        answer = receipt_json(found.receipt, found.block_hash)
        answer["proof"] = built.to_json()
        receipts.append((answer, tx_hash))
    env = RpcEnv.for_chain(chain, NodeIdentity("validator-0", "validator", net.validator.public_bytes), NodeMetrics(chain.bus),
                           engine=None)
    loop = asyncio.new_event_loop()
    return FuzzChain(net, chain, Dispatcher(all_methods(), env, max_batch=10), loop, tuple(cases), tuple(receipts))
