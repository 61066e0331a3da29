"""The JSON-RPC methods: thin, parameter-checking wrappers over the chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node import __version__
from node.chain import Chain
from node.errors import InvalidParams
from node.merkle import merkle_proof, proof_to_json
from node.rpc.dispatch import Dispatcher
from node.rpc.jsonfmt import block_json, hx, parse_hex, receipt_json, tx_json
from node.wire.types import MAX_METHOD_LEN, MAX_TX_BYTES


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    role: str
    pubkey: bytes


def _int_param(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParams(f"'{name}' must be a non-negative integer")
    return value


def _bool_param(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"'{name}' must be true or false")
    return value


class RpcMethods:
    def __init__(self, chain: Chain, identity: NodeIdentity, engine_status: Callable[[], dict[str, Any]], peers: Callable[[], list[Any]]) -> None:
        self.chain = chain
        self.identity = identity
        self.engine_status = engine_status
        self.peers = peers

    def register(self, d: Dispatcher) -> None:
        d.register("chain_blockNumber", self.chain_blockNumber)
        d.register("chain_getBlockByNumber", self.chain_getBlockByNumber)
        d.register("chain_getBlockByHash", self.chain_getBlockByHash)
        d.register("chain_getCertificate", self.chain_getCertificate)
        d.register("tx_send", self.tx_send)
        d.register("tx_get", self.tx_get)
        d.register("tx_getReceipt", self.tx_getReceipt)
        d.register("state_call", self.state_call)
        d.register("node_info", self.node_info)
        d.register("node_peers", self.node_peers)

    # --- chain -----------------------------------------------------------------------------

    def chain_blockNumber(self) -> int:
        return self.chain.height

    def _block(self, height: int, full: bool) -> dict[str, Any] | None:
        store = self.chain.store
        block = store.get_block(height)
        block_hash = store.get_block_hash(height)
        if block is None or block_hash is None:
            return None
        return block_json(block, block_hash, self.chain.suite, store.get_certificate(height), full=full)

    def chain_getBlockByNumber(self, height: Any, full: Any = False) -> dict[str, Any] | None:
        return self._block(_int_param(height, "height"), _bool_param(full, "full"))

    def chain_getBlockByHash(self, hash: Any, full: Any = False) -> dict[str, Any] | None:
        height = self.chain.store.get_height_by_hash(parse_hex(hash, "hash", size=32))
        return None if height is None else self._block(height, _bool_param(full, "full"))

    def chain_getCertificate(self, height: Any) -> dict[str, Any] | None:
        cert = self.chain.store.get_certificate(_int_param(height, "height"))
        if cert is None:
            return None
        return {"raw": hx(cert.encode()), "height": cert.height, "block_hash": hx(cert.block_hash), "votes": len(cert.votes)}

    # --- transactions ----------------------------------------------------------------------

    async def tx_send(self, raw: Any) -> str:
        data = parse_hex(raw, "raw", max_size=MAX_TX_BYTES)
        return hx(await self.chain.submit_async(data))

    def tx_get(self, hash: Any) -> dict[str, Any] | None:
        tx_hash = parse_hex(hash, "hash", size=32)
        pooled = self.chain.pool.get(tx_hash)
        if pooled is not None:
            out = tx_json(pooled.tx, self.chain.suite)
            out["status"] = "pending"
            return out
        loc = self.chain.store.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, index = loc
        block = self.chain.store.get_block(height)
        if block is None:
            return None
        out = tx_json(block.txs[index], self.chain.suite)
        out.update(status="committed", height=height, index=index, block_hash=hx(self.chain.store.get_block_hash(height) or b""))
        return out

    def tx_getReceipt(self, hash: Any, proof: Any = False) -> dict[str, Any] | None:
        tx_hash = parse_hex(hash, "hash", size=32)
        want_proof = _bool_param(proof, "proof")
        store = self.chain.store
        loc = store.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, index = loc
        receipt = store.get_receipt_at(height, index)
        block_hash = store.get_block_hash(height)
        if receipt is None or block_hash is None:
            return None
        out = receipt_json(receipt, block_hash)
        if want_proof:
            block = store.get_block(height)
            assert block is not None
            hash_fn = self.chain.suite.hash
            tx_hashes = [hash_fn(t.signing_bytes()) for t in block.txs]
            receipts = [r.encode() for r in store.receipts_at(height)]
            cert = store.get_certificate(height)
            out["proof"] = {
                "block_hash": hx(block_hash),
                "header_raw": hx(block.header.encode()),
                "tx_index": index,
                "tx_proof": proof_to_json(merkle_proof(hash_fn, tx_hashes, index)),
                "receipt_proof": proof_to_json(merkle_proof(hash_fn, receipts, index)),
                "certificate_raw": None if cert is None else hx(cert.encode()),
            }
        return out

    # --- state -----------------------------------------------------------------------------

    async def state_call(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, dict):
            raise InvalidParams("'call' must be an object {to, method, args}")
        unknown = set(call) - {"to", "method", "args", "from"}
        if unknown:
            raise InvalidParams(f"unknown fields in call: {sorted(unknown)}")
        to = parse_hex(call.get("to"), "to", size=20)
        method = call.get("method")
        if not isinstance(method, str) or not method or len(method) > MAX_METHOD_LEN:
            raise InvalidParams("'method' must be a non-empty string")
        args = parse_hex(call.get("args", "0x"), "args", max_size=MAX_TX_BYTES)
        sender = parse_hex(call["from"], "from", size=20) if "from" in call else bytes(20)
        return {"return_value": hx(await self.chain.query_async(to, method, args, sender=sender))}

    # --- node ------------------------------------------------------------------------------

    def node_info(self) -> dict[str, Any]:
        head = self.chain.head()
        params = self.chain.params()
        return {
            "version": __version__,
            "chain_id": self.chain.chain_id,
            "suite": self.chain.suite.name,
            "consensus": self.chain.genesis.consensus,
            "genesis_hash": hx(self.chain.genesis_hash),
            "node_name": self.identity.name,
            "role": self.identity.role,
            "node_pubkey": hx(self.identity.pubkey),
            "node_address": hx(self.chain.suite.address(self.identity.pubkey)),
            "height": head.height,
            "head_hash": hx(head.block_hash),
            "state_root": hx(head.state_root),
            "validators": [hx(v) for v in self.chain.validators()],
            "pool_size": len(self.chain.pool),
            "params": params.__dict__,
            "engine": self.engine_status(),
        }

    def node_peers(self) -> list[Any]:
        return self.peers()
