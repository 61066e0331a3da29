"""The chain: store + state + pool + executor, exposed to consensus as its ``Application``.

This is the one place that turns an ordered block into committed state; consensus engines call
``propose``/``validate``/``commit`` and the RPC layer calls ``submit`` and the read methods.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import msgpack

from consensus.api import ChainHead, Proposal
from node.chainview import committed_head
from node.crypto import get_suite
from node.errors import ConfigError, ConsensusError, ConsortiaError, ExecutionError, NodeListPending, PoolFull, StoreError, Unavailable
from node.events import BlockCommitted, BlockTiming, EventBus, NodeFailed, NodeListChanged, TxAdmitted, TxRejected
from node.execution.executor import BlockExecution, ContractVM, Executor
from node.execution.system.acl import is_frozen
from node.execution.system.base import SystemContract
from node.execution.system.registry import system_contracts
from node.execution.system.sysconfig import NODE_PREFIX, NodeRecord, read_nodes, validator_keys
from node.genesis import Genesis
from node.params import ChainParams
from node.pooljournal import PoolJournal
from node.sigverify import BatchVerifier
from node.state import CommittedState, PendingState, StateReader
from node.statetree import CachedNodes, CommittedNodes, NodeLayer, NodeSource, TreeError, head_root_is_stored
from node.statetree.multiproof import MAX_PROOF_KEYS, CallProof, build_multiproof
from node.statetree.snapshot import TreeContents, collect
from node.store.chainstore import BlockCommit, ChainStore, NonceRecord, SnapshotInstall
from node.store.db import RESYNC_HINT
from node.txcheck import CheckedTx, check_transaction
from node.txpool import PoolLimits, TxPool
from node.vm import WasmVM
from node.wire.types import Block, BlockHeader, CommitCertificate

QUERY_THREADS = 2

log = logging.getLogger("consortia.chain")



@dataclass(frozen=True)
class PendingBlock:
    """A block executed (proposed or validated) but not committed: pipelined consensus builds the
    next block on it before it commits. Its new state-tree nodes (``result.tree_nodes``) live
    only here until it commits, and are dropped with it if it is abandoned."""

    block: Block
    block_hash: bytes
    result: BlockExecution
    execute_seconds: float = 0.0  # how long executing it took here (reported with its commit)


@dataclass(frozen=True)
class ParentState:
    """What a new block at ``height + 1`` executes over: the committed head, or a pending block
    with its uncommitted ancestors layered over the committed state."""

    height: int
    block_hash: bytes
    state_root: bytes
    timestamp_ms: int
    state: StateReader | None  # None: the committed state itself
    tree: NodeSource | None  # the state-tree nodes under ``state_root``; None: the committed ones
    params: ChainParams  # in force for the child (a pending parent may have just changed them)
    used_nonces: frozenset[tuple[bytes, bytes]]
    tx_hashes: frozenset[bytes]


def changes_node_list(writes: Mapping[bytes, bytes | None]) -> bool:
    """Whether a block's state writes touch the node list (and so the next block's validators)."""
    return any(key.startswith(NODE_PREFIX) for key in writes)


def within_block_bytes(candidates: list[CheckedTx], max_block_bytes: int) -> list[CheckedTx]:
    """The longest prefix of ``candidates`` whose encoded transactions fit in ``max_block_bytes``
    (a prefix, so the pool's fair order is kept; the rest wait for the next block)."""
    total = 0
    for i, c in enumerate(candidates):
        total += c.size
        if total > max_block_bytes:
            return candidates[:i]
    return candidates


def pending_block_limit(params: ChainParams) -> int:
    """Executed, uncommitted blocks kept at once: the pipeline's window, with room for the
    proposals of a few view changes."""
    return 3 * params.pbft_window + 4


def proposal_budget_seconds(params: ChainParams) -> float:
    """How long a proposer may spend executing its block's transactions: a fifth of the round
    timeout. Every validator executes the block again before voting, so a block that took longer
    than the timeout to execute would trigger a view change, whose new primary would propose an
    equally large block: under a backlog the chain would stall in view changes (measured: 5,000
    transaction blocks on a loaded machine, 2 blocks a minute). What the budget leaves out stays
    in the pool; validation does not depend on it (any prefix is a valid block)."""
    return params.consensus_timeout_ms / 5_000


class Chain:
    def __init__(
        self,
        genesis: Genesis,
        store: ChainStore,
        *,
        vm: ContractVM | None = None,
        wasm_cache_dir: Path | None = None,
        pool_limits: PoolLimits | None = None,
        bus: EventBus | None = None,
        extra_contracts: tuple[SystemContract, ...] = (),
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.suite = get_suite(genesis.suite)
        self.store = store
        self.state = CommittedState(store.state_get)
        self.tree = CachedNodes(CommittedNodes(store.tree_node))
        self.executor = Executor(
            self.suite,
            self.chain_id,
            self.state,
            store,
            (*system_contracts(), *extra_contracts),
            vm=vm if vm is not None else WasmVM(self.suite, cache_dir=wasm_cache_dir),
            tree=self.tree,
        )
        self.bus = bus if bus is not None else EventBus()
        if store.on_failure is None:
            store.on_failure = self._store_failed
        self.verifier: BatchVerifier | None = None
        self.journal: PoolJournal | None = None  # attach_journal: client transactions survive a crash
        self._pending: dict[bytes, PendingBlock] = {}  # executed, uncommitted blocks by hash
        self._params_cache: tuple[int, ChainParams] | None = None
        self._validators_cache: tuple[int, list[bytes]] | None = None
        self._query_slots = asyncio.Semaphore(QUERY_THREADS)
        self._init_genesis()
        self._check_head()
        self.pool = TxPool(
            self.suite,
            self.chain_id,
            head_height=lambda: self.height,
            is_committed=store.has_tx,
            nonce_used=lambda sender, nonce: store.nonce_expiry(sender, nonce) is not None,
            expiry_window=lambda: self.params().tx_expiry_window,
            max_tx_bytes=lambda: self.params().max_tx_bytes,
            max_tx_fuel=lambda: self.params().max_tx_fuel,
            is_frozen=lambda sender: is_frozen(self.state, sender),
            limits=pool_limits or PoolLimits(),
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
                    tree_nodes=self.genesis.state_tree().nodes,
                )
            )
            self.state.clear()
            log.info("event=genesis_committed chain_id=%s hash=%s", self.chain_id, genesis_hash.hex())
            return
        stored = self.store.get_block_hash(0)
        if stored != genesis_hash:
            raise ConfigError(
                f"the database at {self.store.path} belongs to a different chain (its genesis hash differs from genesis.json)"
            )

    def _check_head(self) -> None:
        """Refuse to start on a damaged store: the head block must be the one its hash names, the
        root node of its state tree must be stored and hash to its state root, and its certificate
        must be for it, signed by the keys it lists (a damaged byte breaks one of these)."""
        head = self.store.head_height
        if head is None or head == 0:
            return
        block = self.store.get_block(head)
        block_hash = self.store.get_block_hash(head)
        if block is None or block_hash is None or self.suite.hash(block.header.encode()) != block_hash:
            raise StoreError(f"database at {self.store.path} is damaged: head block {head} does not match its hash; {RESYNC_HINT}")
        if not head_root_is_stored(self.suite.hash, self.tree, block.header.state_root):
            raise StoreError(f"database at {self.store.path} is damaged: the state tree root of block {head} is missing or "
                             f"does not match its hash; {RESYNC_HINT}")
        cert = self.store.get_certificate(head)
        if cert is None:
            return  # stored without one: nothing to check (never the case for consensus commits)
        if cert.height != head or cert.block_hash != block_hash or cert.chain_id != self.chain_id:
            raise StoreError(f"database at {self.store.path} is damaged: the certificate of block {head} is for another block; {RESYNC_HINT}")
        message = cert.signed_bytes()
        if not all(self.suite.verify(v.validator, message, v.signature) for v in cert.votes):
            raise StoreError(f"database at {self.store.path} is damaged: the certificate of block {head} has an invalid signature; {RESYNC_HINT}")

    def _store_failed(self, reason: str) -> None:
        self.bus.publish(NodeFailed("store", reason))

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
        return committed_head(self.store)

    def params(self) -> ChainParams:
        height = self.height
        if self._params_cache is None or self._params_cache[0] != height:
            self._params_cache = (height, ChainParams.read(self.state))
        return self._params_cache[1]

    def validators(self) -> list[bytes]:
        height = self.height
        if self._validators_cache is None or self._validators_cache[0] != height:
            self._validators_cache = (height, validator_keys(self.nodes()))
        return list(self._validators_cache[1])

    def nodes(self) -> list[NodeRecord]:
        """The committed node list (validators and observers)."""
        return read_nodes(self.store.state_items(NODE_PREFIX))

    def has_pending(self, in_flight: int = 0, at_least: int = 1) -> bool:
        """At least ``at_least`` transactions wait besides the ``in_flight`` ones already in uncommitted blocks."""
        return len(self.pool) - in_flight >= at_least

    async def wait_for_transactions(self, timeout: float) -> bool:
        return await self.pool.wait_for_transactions(timeout)

    def parent_state(self, parent_hash: bytes | None = None) -> ParentState:
        """The state a child of ``parent_hash`` (default: the committed head) executes over.

        The parent may be a pending block whose own parents are pending too, down to the head.
        A pending block that changes the validator set ends the chain of pending blocks: the
        next block's validators and quorum are only known once it commits."""
        head = self.head()
        if parent_hash is None or parent_hash == head.block_hash:
            return ParentState(head.height, head.block_hash, head.state_root, head.timestamp_ms, None, None, self.params(),
                               frozenset(), frozenset())
        ancestry: list[PendingBlock] = []
        cursor = parent_hash
        while cursor != head.block_hash:
            pending = self._pending.get(cursor)
            if pending is None or pending.block.height <= head.height:
                raise ConsensusError("block parent is neither our head nor a pending block built on it")
            ancestry.append(pending)
            cursor = pending.block.header.parent_hash
        state: StateReader = self.state
        tree: NodeSource = self.tree
        nonces: set[tuple[bytes, bytes]] = set()
        tx_hashes: set[bytes] = set()
        for pending in reversed(ancestry):
            writes = pending.result.state_writes
            if changes_node_list(writes):
                raise NodeListPending(f"pending block {pending.block.height} changes the node list: the next block waits for it to commit")
            state = PendingState(state, writes)
            tree = NodeLayer(tree, pending.result.tree_nodes)
            nonces.update((n.sender, n.nonce) for n in pending.result.nonces)
            tx_hashes.update(c.hash for c in pending.result.txs)
        parent = ancestry[0].block.header
        return ParentState(parent.height, parent_hash, parent.state_root, parent.timestamp_ms, state, tree, ChainParams.read(state),
                           frozenset(nonces), frozenset(tx_hashes))

    def propose(self, *, height: int, view: int, proposer: bytes, timestamp_ms: int, max_txs: int,
                parent_hash: bytes | None = None) -> Proposal:
        """Build and execute a candidate block on ``parent_hash`` (default: the committed head)."""
        parent = self.parent_state(parent_hash)
        if height != parent.height + 1:
            raise ConsensusError(f"cannot propose height {height} on parent {parent.height}")
        candidates = within_block_bytes(
            self.pool.select(min(max_txs, parent.params.block_tx_limit), exclude=parent.tx_hashes),
            parent.params.max_block_bytes,
        )
        timestamp_ms = max(timestamp_ms, parent.timestamp_ms)
        started = time.perf_counter()
        result = self.executor.execute_block(
            candidates, height=height, timestamp_ms=timestamp_ms, prev_state_root=parent.state_root, strict=False,
            base=parent.state, used_nonces=parent.used_nonces, params=parent.params, tree=parent.tree,
            deadline=started + proposal_budget_seconds(parent.params),
        )
        if result.dropped:
            # Only drop what is invalid for good; a nonce used by a pending block may come back
            # if that block is abandoned by a view change.
            final = [(c, reason) for c, reason in result.dropped if (c.sender, c.tx.nonce) not in parent.used_nonces]
            self.pool.drop_invalid(final, height)
            for c, reason in result.dropped:
                log.info("event=tx_dropped tx=%s reason=%r", c.hash.hex(), reason)
        header = BlockHeader(
            chain_id=self.chain_id,
            height=height,
            parent_hash=parent.block_hash,
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
        self._hold_pending(PendingBlock(block, block_hash, result, time.perf_counter() - started), parent.params)
        return Proposal(block=block, block_hash=block_hash)

    def validate(self, block: Block) -> bytes:
        """Re-execute ``block`` on its parent (our head or a pending block) and check every root in its header."""
        hdr = block.header
        block_hash = self.suite.hash(hdr.encode())
        if block_hash in self._pending:
            return block_hash
        if hdr.chain_id != self.chain_id:
            raise ConsensusError("block is for another chain")
        parent = self.parent_state(hdr.parent_hash)
        if hdr.height != parent.height + 1:
            raise ConsensusError(f"block height {hdr.height} does not extend its parent at {parent.height}")
        if hdr.timestamp_ms < parent.timestamp_ms:
            raise ConsensusError("block timestamp goes backwards")
        if len(block.txs) > parent.params.block_tx_limit:
            raise ConsensusError("block has more transactions than block_tx_limit")
        checked: list[CheckedTx] = []
        fresh: list[CheckedTx] = []
        for tx in block.txs:
            pooled = self.pool.get(self.suite.hash(tx.signing_bytes()))
            if pooled is not None and pooled.tx == tx:
                checked.append(pooled)
            else:
                c = check_transaction(self.suite, self.chain_id, tx, size=len(tx.encode()))
                checked.append(c)
                fresh.append(c)
        size = sum(c.size for c in checked)
        if size > parent.params.max_block_bytes:
            raise ConsensusError(f"block {hdr.height} carries {size} bytes of transactions, over max_block_bytes {parent.params.max_block_bytes}")
        started = time.perf_counter()
        result = self.executor.execute_block(
            checked, height=hdr.height, timestamp_ms=hdr.timestamp_ms, prev_state_root=parent.state_root, strict=True,
            base=parent.state, used_nonces=parent.used_nonces, params=parent.params, tree=parent.tree,
        )
        for name, claimed, computed in (("tx_root", hdr.tx_root, result.tx_root),
                                        ("receipt_root", hdr.receipt_root, result.receipt_root),
                                        ("state_root", hdr.state_root, result.state_root)):
            if claimed != computed:
                raise ConsensusError(f"block {hdr.height}: {name} does not match re-execution")
        self._hold_pending(PendingBlock(block, block_hash, result, time.perf_counter() - started), parent.params)
        self._remember_verified(fresh)
        return block_hash

    def _hold_pending(self, pending: PendingBlock, params: ChainParams) -> None:
        """Keep an executed block until its height commits, within a bound: view changes at a
        stuck height leave one abandoned block per view (each with its writes, receipts and tree
        nodes: tens of MB for a full block), and nothing else removes them before the height
        commits. Beyond ``pending_block_limit`` the oldest block no other pending block builds on
        goes; if consensus commits it after all, ``commit`` executes it again."""
        self._pending[pending.block_hash] = pending
        limit = pending_block_limit(params)
        if len(self._pending) <= limit:
            return
        parents = {p.block.header.parent_hash for p in self._pending.values()}
        for block_hash in list(self._pending):  # oldest first
            if len(self._pending) <= limit:
                break
            if block_hash not in parents and block_hash != pending.block_hash:
                released = self._pending.pop(block_hash)
                log.info("event=pending_block_released height=%d hash=%s", released.block.height, block_hash.hex())

    def _remember_verified(self, txs: list[CheckedTx]) -> None:
        """Pool the transactions a valid block brought before their forwarded copies arrived:
        the copies are then known duplicates, refused before a second signature check, and a
        block abandoned by a view change leaves its transactions here to be proposed again."""
        for c in txs:
            try:
                self.pool.add_verified(c)
            except PoolFull:
                return  # the copies will be checked again, nothing worse
            except ConsortiaError:
                continue  # e.g. another transaction with this nonce is pooled

    def commit(self, block: Block, certificate: CommitCertificate | None, *, catchup: bool = False) -> None:
        """Write ``block`` (executed before, or now) in one batch and publish ``BlockCommitted``
        (``catchup``: block sync fetched it from a peer; said in the event, for metrics)."""
        block_hash = self.suite.hash(block.header.encode())
        if block.header.parent_hash != self.head().block_hash:
            raise ConsensusError(f"block {block.height} does not extend the committed head")
        if block_hash not in self._pending:
            self.validate(block)
        pending = self._pending.pop(block_hash)
        result = pending.result
        tx_hashes = tuple(c.hash for c in result.txs)
        started = time.perf_counter()
        self.store.commit(
            BlockCommit(
                block=block,
                block_hash=block_hash,
                certificate=certificate,
                receipts=tuple(result.receipts),
                tx_hashes=tx_hashes,
                state_writes=result.state_writes,
                nonces=tuple(result.nonces),
                tree_nodes=result.tree_nodes,
                tree_replaced=result.tree_replaced,
            )
        )
        self.state.apply(result.state_writes)
        timing = BlockTiming(execute_seconds=pending.execute_seconds, store_seconds=time.perf_counter() - started)
        self.tree.add(result.tree_nodes, result.tree_replaced)  # the next block reads the upper levels just written
        self._prune_pending(block_hash, block.height)
        self.pool.on_commit(block.height, tx_hashes, ((n.sender, n.nonce) for n in result.nonces))
        if self.journal is not None and self.journal.should_compact(self.pool.local_count):
            self.journal.rewrite(self.local_pending())
        self.bus.publish(BlockCommitted(block=block, block_hash=block_hash, receipts=tuple(result.receipts), certificate=certificate,
                                        tx_hashes=tx_hashes, timing=timing, catchup=catchup))
        if changes_node_list(result.state_writes):
            log.info("event=node_list_changed height=%d validators=%d nodes=%d", block.height, len(self.validators()),
                     len(self.nodes()))
            self.bus.publish(NodeListChanged(block.height))

    def _prune_pending(self, head_hash: bytes, head_height: int) -> None:
        """Keep only pending blocks that descend from the new head; the rest can never commit (their
        state-tree nodes go with them: nothing else refers to them)."""
        keep: dict[bytes, PendingBlock] = {}
        for pending in sorted(self._pending.values(), key=lambda p: p.block.height):
            parent = pending.block.header.parent_hash
            if pending.block.height > head_height and (parent == head_hash or parent in keep):
                keep[pending.block_hash] = pending
        self._pending = keep

    # --- snapshot sync -----------------------------------------------------------------------

    def holds_tree(self, height: int) -> bool:
        """Whether the whole state tree of committed block ``height`` is still stored here (not
        pruned: ``[store] state_history_blocks``; not below a snapshot this node joined at)."""
        return self.store.tree_floor() <= height <= self.height

    def snapshot_contents(self, root: bytes) -> TreeContents:
        """The tree ``root`` read from the committed nodes and the staged snapshot nodes (what is
        missing is listed in the result)."""
        return collect(self.suite.hash, root, CommittedNodes(self.store.staged_node), self.tree)

    def install_snapshot(self, block: Block, certificate: CommitCertificate, contents: TreeContents, *, record: str) -> None:
        """Make a snapshot's certified block the head, with the state ``contents`` holds.

        The caller has checked ``certificate`` against this node's validator set (its head's) and
        that ``contents`` is complete (read under ``block.header.state_root``). Refused unless the
        snapshot's own validator set is that same set: the blocks after it are certified by the
        validators of its state, and a set that changed on the way needs the full replay, which
        follows every change block by block."""
        if contents.missing:
            raise StoreError(f"snapshot at {block.height} is incomplete: {len(contents.missing)} tree nodes missing")
        nodes = read_nodes(sorted((k, v) for k, v in contents.state.items() if k.startswith(NODE_PREFIX)))
        if validator_keys(nodes) != self.validators():
            raise ConsensusError(f"the validator set in the snapshot at {block.height} differs from this node's: "
                                 "it changed since this node's head, so only a full replay can follow it")
        block_hash = self.suite.hash(block.header.encode())
        # Replay protection: the snapshot block's own nonces now, those of the blocks below it
        # (within its expiry window) by ``node.p2p.backfill``, resumable from this record.
        window = ChainParams.read(CommittedState(contents.state.get)).tx_expiry_window
        backfill = msgpack.packb([max(1, block.height - window + 1), block.height - 1, block.header.parent_hash])
        nonces = tuple(NonceRecord(self.suite.address(t.sender_pubkey), t.nonce, t.expiry_height) for t in block.txs
                       if t.expiry_height > block.height)
        self.store.install_snapshot(SnapshotInstall(block, block_hash, certificate, contents.nodes, contents.state, record,
                                                    backfill if block.height > 1 else b"", nonces))
        self.state.clear()  # every entry may differ in the installed state
        self.tree.clear()  # the old tree's pinned upper levels are no longer reachable
        self.tree.add(contents.nodes)
        self._pending.clear()
        self.pool.on_commit(block.height, (), ())  # drop what expired at the new head
        log.info("event=snapshot_installed height=%d keys=%d new_nodes=%d", block.height, len(contents.state), len(contents.nodes))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # --- clients ---------------------------------------------------------------------------

    def submit(self, raw: bytes, *, forward: bool = True) -> bytes:
        """Admit a client transaction to the pool; returns its hash or raises a ConsortiaError
        (published as ``TxRejected`` with the error's kind)."""
        try:
            tx_hash = self.pool.add(raw).hash
        except Exception as exc:
            self._rejected(exc, forward)
            raise
        self._admitted(tx_hash, raw, forward)
        return tx_hash

    async def submit_async(self, raw: bytes, *, forward: bool = True) -> bytes:
        """``submit`` with the signature verified by the batch verifier, when one is attached."""
        if self.verifier is None:
            return self.submit(raw, forward=forward)
        try:
            tx_hash = (await self.pool.add_async(raw, self.verifier.verify)).hash
        except Exception as exc:
            self._rejected(exc, forward)
            raise
        self._admitted(tx_hash, raw, forward)
        return tx_hash

    def _admitted(self, tx_hash: bytes, raw: bytes, local: bool) -> None:
        """Our own client's transaction is journaled before the answer goes out (pooljournal.py)."""
        if local:
            self.pool.mark_local(tx_hash)
            if self.journal is not None:
                self.journal.append(raw)
        self.bus.publish(TxAdmitted(tx_hash, raw, local))

    def attach_journal(self, journal: PoolJournal) -> None:
        """Admit again what ``journal`` holds from an earlier run of this node (as its own clients'
        transactions: forwarded to peers as they connect), then journal every new one."""
        contents = journal.open()
        restored = refused = 0
        for raw in contents.records:
            try:
                self.pool.mark_local(self.pool.add(raw).hash)
                restored += 1
            except ConsortiaError:
                refused += 1  # committed, expired or replayed meanwhile, or a duplicate record
        self.journal = journal
        journal.rewrite(self.local_pending())
        if contents.records or contents.torn_bytes:
            log.info("event=pool_restored restored=%d refused=%d torn_bytes=%d", restored, refused, contents.torn_bytes)

    def local_pending(self) -> list[bytes]:
        """Encodings of every pending transaction our own clients sent."""
        return self.pool.pending_raw(limit=self.pool.limits.capacity, local_only=True)

    def _rejected(self, exc: Exception, local: bool) -> None:
        self.bus.publish(TxRejected(exc.kind if isinstance(exc, ConsortiaError) else "internal", local))

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

    async def query_proven_async(self, to: bytes, method: str, args: bytes, sender: bytes = bytes(20)) -> tuple[bytes, CallProof]:
        """``query_async``, plus a proof of every state entry the call read, against the head's
        certified state root (docs/state-proofs.md, "Call proofs"). The tree is read straight
        from the store in the worker thread (the node cache is the loop thread's); the head's
        tree stays whole for at least ``state_history`` more blocks."""
        async with self._query_slots:
            head = self.head()
            snapshot = self.store.state_snapshot()  # taken on the loop thread: no commit in between
            certificate = self.store.get_certificate(head.height)
            header = self.store.get_header(head.height)
            assert header is not None  # head() read it
            try:
                result, reads = await asyncio.to_thread(self.executor.query_recorded, to, method, args, sender=sender,
                                                        height=head.height, timestamp_ms=head.timestamp_ms, state=snapshot)
            finally:
                snapshot.close()
            if len(reads) > MAX_PROOF_KEYS:
                raise ExecutionError(f"the call read {len(reads)} state entries: more than a proof may cover ({MAX_PROOF_KEYS})")
            try:
                nodes = await asyncio.to_thread(build_multiproof, self.suite.hash, CommittedNodes(self.store.tree_node),
                                                head.state_root, reads)
            except TreeError:
                if self.holds_tree(head.height):
                    raise  # the head's tree is damaged: this node's database is at fault
                raise Unavailable(f"the state of block {head.height} was pruned while the call ran; ask again") from None
            proof = CallProof(head.height, head.block_hash, header.encode(), None if certificate is None else certificate.encode(),
                              tuple(reads), tuple(nodes))
            return result, proof
