"""The chain: store + state + pool + executor, exposed to consensus as its ``Application``.

This is the one place that turns an ordered block into committed state; consensus engines call
``propose``/``validate``/``commit`` and the RPC layer calls ``submit`` and the read methods.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import msgpack

from consensus.api import ChainHead, Proposal
from node.crypto import get_suite
from node.errors import ConfigError, ConsensusError, StoreError
from node.execution.executor import BlockExecution, ContractVM, Executor
from node.execution.system.base import SystemContract
from node.execution.system.sysconfig import SYSCONFIG_ADDRESS, ChainParams, SysConfig
from node.genesis import Genesis
from node.state import CommittedState
from node.store.chainstore import BlockCommit, ChainStore
from node.txcheck import CheckedTx, check_transaction
from node.sigverify import BatchVerifier
from node.txpool import PoolLimits, TxPool
from node.vm import WasmVM
from node.vm.registry import ContractRegistry
from node.wire.types import Block, BlockHeader, CommitCertificate, Receipt

QUERY_THREADS = 2

log = logging.getLogger("consortia.chain")

_NODE_PREFIX = SYSCONFIG_ADDRESS + b"node/"


@dataclass(frozen=True)
class CommittedBlock:
    """What subscribers hear about after each commit."""

    block: Block
    block_hash: bytes
    receipts: tuple[Receipt, ...]
    certificate: CommitCertificate | None


Listener = Callable[[CommittedBlock], None]


class Chain:
    def __init__(
        self,
        genesis: Genesis,
        store: ChainStore,
        *,
        vm: ContractVM | None = None,
        wasm_cache_dir: Path | None = None,
        pool_limits: PoolLimits = PoolLimits(),
        extra_contracts: tuple[SystemContract, ...] = (),
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.suite = get_suite(genesis.suite)
        self.store = store
        self.state = CommittedState(store.state_get)
        self.executor = Executor(
            self.suite,
            self.chain_id,
            self.state,
            store,
            (SysConfig(), ContractRegistry(), *extra_contracts),
            vm=vm if vm is not None else WasmVM(self.suite, cache_dir=wasm_cache_dir),
        )
        self.verifier: BatchVerifier | None = None
        self.tx_listeners: list[Callable[[bytes], None]] = []  # told of each client tx admitted
        self._listeners: list[Listener] = []
        self._executed: dict[bytes, BlockExecution] = {}
        self._params_cache: tuple[int, ChainParams] | None = None
        self._validators_cache: tuple[int, list[bytes]] | None = None
        self._query_slots = asyncio.Semaphore(QUERY_THREADS)
        self._init_genesis()
        self.pool = TxPool(
            self.suite,
            self.chain_id,
            head_height=lambda: self.height,
            is_committed=store.has_tx,
            nonce_used=lambda sender, nonce: store.nonce_expiry(sender, nonce) is not None,
            expiry_window=lambda: self.params().tx_expiry_window,
            max_tx_bytes=lambda: self.params().max_tx_bytes,
            max_tx_fuel=lambda: self.params().max_tx_fuel,
            limits=pool_limits,
        )

    # --- genesis ---------------------------------------------------------------------------

    def _init_genesis(self) -> None:
        block, writes = self.genesis.block()
        genesis_hash = self.suite.hash(block.header.encode())
        if self.store.head_height is None:
            self.store.commit(
                BlockCommit(
                    block=block,
                    block_hash=genesis_hash,
                    certificate=None,
                    receipts=(),
                    tx_hashes=(),
                    state_writes=writes,
                    nonces=(),
                )
            )
            log.info("event=genesis_committed chain_id=%s hash=%s", self.chain_id, genesis_hash.hex())
            return
        stored = self.store.get_block_hash(0)
        if stored != genesis_hash:
            raise ConfigError(
                f"the database at {self.store.path} belongs to a different chain (its genesis hash differs from genesis.json)"
            )

    @property
    def genesis_hash(self) -> bytes:
        h = self.store.get_block_hash(0)
        assert h is not None
        return h

    # --- consensus.api.Application ---------------------------------------------------------

    @property
    def height(self) -> int:
        h = self.store.head_height
        return 0 if h is None else h

    def head(self) -> ChainHead:
        height = self.height
        header = self.store.get_header(height)
        block_hash = self.store.get_block_hash(height)
        if header is None or block_hash is None:
            raise StoreError(f"head block {height} is missing")
        return ChainHead(height=height, block_hash=block_hash, state_root=header.state_root, timestamp_ms=header.timestamp_ms)

    def params(self) -> ChainParams:
        height = self.height
        if self._params_cache is None or self._params_cache[0] != height:
            self._params_cache = (height, ChainParams.read(self.state))
        return self._params_cache[1]

    def validators(self) -> list[bytes]:
        height = self.height
        if self._validators_cache is None or self._validators_cache[0] != height:
            out = []
            for key, value in self.store.state_items(_NODE_PREFIX):
                info = msgpack.unpackb(value)
                if info.get("role") == "validator":
                    out.append(key[len(_NODE_PREFIX):])
            self._validators_cache = (height, sorted(out))
        return list(self._validators_cache[1])

    def nodes(self) -> list[dict[str, object]]:
        out = []
        for key, value in self.store.state_items(_NODE_PREFIX):
            info = msgpack.unpackb(value)
            info["pubkey"] = key[len(_NODE_PREFIX):]
            out.append(info)
        return out

    def has_pending(self) -> bool:
        return len(self.pool) > 0

    async def wait_for_transactions(self, timeout: float) -> bool:
        return await self.pool.wait_for_transactions(timeout)

    def propose(self, *, height: int, view: int, proposer: bytes, timestamp_ms: int, max_txs: int) -> Proposal:
        head = self.head()
        if height != head.height + 1:
            raise ConsensusError(f"cannot propose height {height} on head {head.height}")
        candidates = self.pool.select(max_txs)
        result = self.executor.execute_block(
            candidates, height=height, timestamp_ms=timestamp_ms, prev_state_root=head.state_root, strict=False
        )
        if result.dropped:
            self.pool.remove(c.hash for c, _ in result.dropped)
            for c, reason in result.dropped:
                log.info("event=tx_dropped tx=%s reason=%r", c.hash.hex(), reason)
        header = BlockHeader(
            chain_id=self.chain_id,
            height=height,
            parent_hash=head.block_hash,
            timestamp_ms=timestamp_ms,
            proposer=proposer,
            view=view,
            tx_count=len(result.txs),
            tx_root=result.tx_root,
            receipt_root=result.receipt_root,
            state_root=result.state_root,
        )
        block = Block(header=header, txs=tuple(c.tx for c in result.txs))
        block_hash = self.suite.hash(header.encode())
        self._executed = {block_hash: result}
        return Proposal(block=block, block_hash=block_hash)

    def validate(self, block: Block) -> bytes:
        """Re-execute ``block`` on our head and check every root in its header."""
        head = self.head()
        hdr = block.header
        if hdr.chain_id != self.chain_id:
            raise ConsensusError("block is for another chain")
        if hdr.height != head.height + 1:
            raise ConsensusError(f"block height {hdr.height} does not extend head {head.height}")
        if hdr.parent_hash != head.block_hash:
            raise ConsensusError("block parent hash does not match our head")
        if hdr.timestamp_ms < head.timestamp_ms:
            raise ConsensusError("block timestamp goes backwards")
        if len(block.txs) > self.params().block_tx_limit:
            raise ConsensusError("block has more transactions than block_tx_limit")
        block_hash = self.suite.hash(hdr.encode())
        if block_hash in self._executed:
            return block_hash
        checked: list[CheckedTx] = []
        for tx in block.txs:
            pooled = self.pool.get(self.suite.hash(tx.signing_bytes()))
            if pooled is not None and pooled.tx == tx:
                checked.append(pooled)
            else:
                checked.append(check_transaction(self.suite, self.chain_id, tx, size=len(tx.encode())))
        result = self.executor.execute_block(
            checked, height=hdr.height, timestamp_ms=hdr.timestamp_ms, prev_state_root=head.state_root, strict=True
        )
        for name in ("tx_root", "receipt_root", "state_root"):
            if getattr(hdr, name) != getattr(result, name):
                raise ConsensusError(f"block {hdr.height}: {name} does not match re-execution")
        self._executed[block_hash] = result
        return block_hash

    def commit(self, block: Block, certificate: CommitCertificate | None) -> None:
        block_hash = self.suite.hash(block.header.encode())
        if block_hash not in self._executed:
            self.validate(block)
        result = self._executed.pop(block_hash)
        self._executed.clear()
        self.store.commit(
            BlockCommit(
                block=block,
                block_hash=block_hash,
                certificate=certificate,
                receipts=tuple(result.receipts),
                tx_hashes=tuple(c.hash for c in result.txs),
                state_writes=result.state_writes,
                nonces=tuple(result.nonces),
            )
        )
        self.pool.remove(c.hash for c in result.txs)
        self.pool.evict_expired(block.height)
        committed = CommittedBlock(block=block, block_hash=block_hash, receipts=tuple(result.receipts), certificate=certificate)
        for listener in list(self._listeners):
            try:
                listener(committed)
            except Exception:  # a broken subscriber must not stop the chain
                log.exception("event=listener_failed")

    # --- clients ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def submit(self, raw: bytes, *, forward: bool = True) -> bytes:
        """Admit a client transaction to the pool; returns its hash or raises a ConsortiaError."""
        tx_hash = self.pool.add(raw).hash
        if forward:
            self.pool.mark_local(tx_hash)
        self._tell_tx(raw, forward)
        return tx_hash

    async def submit_async(self, raw: bytes, *, forward: bool = True) -> bytes:
        """``submit`` with the signature verified by the batch verifier, when one is attached."""
        if self.verifier is None:
            return self.submit(raw, forward=forward)
        tx_hash = (await self.pool.add_async(raw, self.verifier.verify)).hash
        if forward:
            self.pool.mark_local(tx_hash)
        self._tell_tx(raw, forward)
        return tx_hash

    def _tell_tx(self, raw: bytes, forward: bool) -> None:
        if not forward:
            return
        for listener in self.tx_listeners:
            try:
                listener(raw)
            except Exception:
                log.exception("event=tx_listener_failed")

    def query(self, to: bytes, method: str, args: bytes, sender: bytes = bytes(20)) -> bytes:
        head = self.head()
        return self.executor.query(to, method, args, sender=sender, height=head.height, timestamp_ms=head.timestamp_ms)

    async def query_async(self, to: bytes, method: str, args: bytes, sender: bytes = bytes(20)) -> bytes:
        """``query`` in a worker thread on a snapshot of the head state, so a heavy contract query
        (up to the query fuel limit) never stalls consensus or other clients. Wasmtime releases
        the GIL while contract code runs; at most QUERY_THREADS queries run at once."""
        async with self._query_slots:
            head = self.head()
            snapshot = self.store.state_snapshot()  # taken on the loop thread: no commit in between
            try:
                return await asyncio.to_thread(self.executor.query, to, method, args, sender=sender, height=head.height,
                                               timestamp_ms=head.timestamp_ms, state=snapshot)
            finally:
                snapshot.close()
