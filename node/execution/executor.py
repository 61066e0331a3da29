"""Runs a block's transactions in order and produces receipts, state writes and the new roots.

Execution is deterministic: it reads only the parent state, the block height and timestamp and the
transactions, so every node that executes the same block gets the same receipts and state root.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from node.crypto.base import CryptoSuite
from node.errors import ConsensusError, ConsortiaError, ExecutionError, StoreError
from node.execution.context import (
    FUEL_PER_TX_BYTE,
    FUEL_TX_BASE,
    BlockInfo,
    CallContext,
    ExecutionFailure,
    FuelMeter,
    OutOfFuel,
    VmResourceError,
)
from node.execution.system.acl import can_deploy, is_frozen
from node.execution.system.base import SystemContract
from node.execution.system.contracts import CONTRACT_KEY_PREFIX, ContractInfo, code_key
from node.merkle import merkle_root
from node.params import ChainParams
from node.state import RecordingState, StateOverlay, StateReader
from node.statetree import NodeSource
from node.statetree import update as update_tree
from node.store.chainstore import NonceRecord
from node.txcheck import CheckedTx
from node.wire.types import MAX_ERROR_LEN, MAX_RETURN_BYTES, STATUS_FAILED, STATUS_OK, Receipt

QUERY_FUEL_LIMIT = 50_000_000
DEPLOY_METHOD = "deploy"


Router = Callable[[CallContext, str, bytes], bytes]


class ContractVM(Protocol):
    """The slot a WASM runtime fills: deploy code and call deployed contracts."""

    def set_router(self, router: Router) -> None:
        """How a contract reaches other contracts: the executor's own dispatch, as for transactions."""
        ...

    def has_contract(self, state: StateReader, address: bytes) -> bool: ...

    def call(self, ctx: CallContext, method: str, args: bytes) -> bytes: ...

    def deploy(self, ctx: CallContext, tx_hash: bytes, args: bytes) -> bytes: ...


class NonceSource(Protocol):
    def nonce_expiry(self, sender: bytes, nonce: bytes) -> int | None: ...


@dataclass
class BlockExecution:
    """The result of executing a candidate block over its parent state."""

    height: int
    txs: list[CheckedTx]
    receipts: list[Receipt]
    state_writes: dict[bytes, bytes | None]
    nonces: list[NonceRecord]
    tx_root: bytes
    receipt_root: bytes
    state_root: bytes
    tree_nodes: dict[bytes, bytes]  # the state-tree nodes ``state_root`` adds to its parent's tree
    tree_replaced: frozenset[bytes] = frozenset()  # the parent's nodes the new tree drops (for pruning)
    dropped: list[tuple[CheckedTx, str]] = field(default_factory=list)


class Executor:
    """Executes transactions against system contracts and, when installed, the WASM VM."""

    def __init__(
        self,
        suite: CryptoSuite,
        chain_id: str,
        state: StateReader,
        nonces: NonceSource,
        system_contracts: Sequence[SystemContract],
        vm: ContractVM | None = None,
        tree: NodeSource | None = None,
    ) -> None:
        self.suite = suite
        self.chain_id = chain_id
        self.state = state
        self.tree: NodeSource = tree if tree is not None else {}  # committed state-tree nodes; none: blocks start from the empty state
        self.nonces = nonces
        self.system = {c.address: c for c in system_contracts}
        self.vm = vm
        if vm is not None:  # contracts call other contracts through the same dispatch as transactions
            vm.set_router(lambda ctx, method, args: self._dispatch(ctx, method, args, b""))

    def params(self, state: StateReader | None = None) -> ChainParams:
        return ChainParams.read(state or self.state)

    # --- admission rules that depend on state ----------------------------------------------

    def stateful_check(self, ctx: CheckedTx, height: int, params: ChainParams, seen: set[tuple[bytes, bytes]]) -> str | None:
        """Why ``ctx`` cannot go into block ``height``, or None if it can."""
        tx = ctx.tx
        window = params.tx_expiry_window
        if tx.fuel_limit > params.max_tx_fuel:
            return f"fuel_limit {tx.fuel_limit} is above the chain's max_tx_fuel {params.max_tx_fuel}"
        if tx.expiry_height <= height:
            return f"expired: expiry_height {tx.expiry_height} <= block height {height}"
        if tx.expiry_height > height + window:
            return f"expiry_height {tx.expiry_height} is more than {window} blocks ahead of {height}"
        key = (ctx.sender, tx.nonce)
        if key in seen or self.nonces.nonce_expiry(ctx.sender, tx.nonce) is not None:
            return "nonce already used by this sender"
        return None

    # --- blocks ----------------------------------------------------------------------------

    def execute_block(
        self,
        txs: Sequence[CheckedTx],
        *,
        height: int,
        timestamp_ms: int,
        prev_state_root: bytes,
        strict: bool,
        base: StateReader | None = None,
        used_nonces: frozenset[tuple[bytes, bytes]] = frozenset(),
        params: ChainParams | None = None,
        tree: NodeSource | None = None,
        deadline: float | None = None,
    ) -> BlockExecution:
        """Execute ``txs`` as block ``height``.

        ``strict`` (validating someone else's block): a transaction that may not be in the block
        makes the whole block invalid. Not strict (building our own proposal): such a
        transaction is dropped and reported in ``dropped``.

        ``base`` is the parent's state when the parent is not committed yet (pipelined
        consensus executes a block over its uncommitted parents); ``used_nonces`` are the
        (sender, nonce) pairs those parents consume, which this block may not reuse; ``tree``
        the parent's state-tree nodes (its pending ones over the committed ones), so the new
        state root is computed over an uncommitted parent's tree without copying it.

        ``deadline`` (a ``time.perf_counter()`` value, only when building a proposal): once it has
        passed, the block ends with what was executed so far (at least one transaction); the rest
        stay in the pool for the next block.
        """
        parent_state = base if base is not None else self.state
        params = params if params is not None else self.params(parent_state)  # the caller's copy, if it read them
        block_state = StateOverlay(parent_state)
        info = BlockInfo(height=height, timestamp_ms=timestamp_ms, chain_id=self.chain_id, suite=self.suite)
        included: list[CheckedTx] = []
        receipts: list[Receipt] = []
        nonces: list[NonceRecord] = []
        dropped: list[tuple[CheckedTx, str]] = []
        seen: set[tuple[bytes, bytes]] = set(used_nonces)
        for ctx_tx in txs:
            if deadline is not None and included and time.perf_counter() > deadline:
                break
            reason = self.stateful_check(ctx_tx, height, params, seen)
            if reason is not None:
                if strict:
                    raise ConsensusError(f"block {height} contains an invalid transaction 0x{ctx_tx.hash.hex()}: {reason}")
                dropped.append((ctx_tx, reason))
                continue
            seen.add((ctx_tx.sender, ctx_tx.tx.nonce))
            nonces.append(NonceRecord(sender=ctx_tx.sender, nonce=ctx_tx.tx.nonce, expiry_height=ctx_tx.tx.expiry_height))
            receipts.append(self._apply(ctx_tx, block_state, info, index=len(included)))
            included.append(ctx_tx)
        writes = dict(block_state.writes)
        state_tree = update_tree(self.suite.hash, tree if tree is not None else self.tree, prev_state_root, writes)
        return BlockExecution(
            height=height,
            txs=included,
            receipts=receipts,
            state_writes=writes,
            nonces=nonces,
            tx_root=merkle_root(self.suite.hash, [t.hash for t in included]),
            receipt_root=merkle_root(self.suite.hash, [r.encode() for r in receipts]),
            state_root=state_tree.root,
            tree_nodes=state_tree.nodes,
            tree_replaced=state_tree.replaced,
            dropped=dropped,
        )

    def _apply(self, ctx_tx: CheckedTx, block_state: StateOverlay, info: BlockInfo, index: int) -> Receipt:
        tx = ctx_tx.tx
        fuel = FuelMeter(tx.fuel_limit)
        tx_state = block_state.child()
        ctx = CallContext(
            state=tx_state,
            block=info,
            sender=ctx_tx.sender,
            origin=ctx_tx.sender,
            contract=tx.to,
            fuel=fuel,
            sender_pubkey=tx.sender_pubkey,
        )
        status, error, ret = STATUS_OK, "", b""
        try:
            fuel.charge(FUEL_TX_BASE + FUEL_PER_TX_BYTE * ctx_tx.size)
            if is_frozen(tx_state, ctx_tx.sender):  # admitted before the freeze executed: fails, charged, changes nothing
                raise ExecutionFailure(f"account 0x{ctx_tx.sender.hex()} is frozen by the governance committee")
            ret = self._dispatch(ctx, tx.method, tx.args, ctx_tx.hash)
            if len(ret) > MAX_RETURN_BYTES:
                raise ExecutionFailure(f"return value larger than {MAX_RETURN_BYTES} bytes")
        except StoreError:
            raise  # this node cannot read its own state: not the transaction's fault, and not to be recorded as such
        except OutOfFuel as exc:
            status, error = STATUS_FAILED, exc.message
        except ConsortiaError as exc:
            status, error = STATUS_FAILED, exc.message
        except VmResourceError:
            raise  # a local shortage, not the transaction's fault: failing it here alone would fork the chain
        except Exception as exc:  # a bug in a native contract fails the tx, never the node
            status, error = STATUS_FAILED, f"internal error in contract: {exc.__class__.__name__}"
        if status == STATUS_OK:
            tx_state.merge_into(block_state)
            events = tuple(ctx.events)
        else:
            ret, events = b"", ()
        return Receipt(
            tx_hash=ctx_tx.hash,
            height=info.height,
            index=index,
            status=status,
            error=error[:MAX_ERROR_LEN],
            fuel_used=fuel.used,
            return_value=ret,
            events=events,
        )

    def _dispatch(self, ctx: CallContext, method: str, args: bytes, tx_hash: bytes) -> bytes:
        contract = self.system.get(ctx.contract)
        if contract is not None:
            return contract.call(ctx, method, args)
        if self.vm is None:
            if not ctx.contract:
                raise ExecutionFailure("contract deployment is not available: this node has no WASM runtime")
            raise ExecutionFailure(f"no contract at address 0x{ctx.contract.hex()}")
        if not ctx.contract:
            if ctx.depth > 0:
                raise ExecutionFailure("contracts cannot deploy contracts")
            if method != DEPLOY_METHOD:
                raise ExecutionFailure(f"a transaction to the empty address deploys a contract: its method must be '{DEPLOY_METHOD}'")
            if not can_deploy(ctx.state, ctx.sender):
                raise ExecutionFailure(f"account 0x{ctx.sender.hex()} has no deploy rights (granted by a grant_deploy proposal)")
            return self.vm.deploy(ctx, tx_hash, args)
        if not self.vm.has_contract(ctx.state, ctx.contract):
            raise ExecutionFailure(f"no contract at address 0x{ctx.contract.hex()}")
        return self.vm.call(ctx, method, args)

    # --- read-only queries -----------------------------------------------------------------

    def query_recorded(self, to: bytes, method: str, args: bytes, *, sender: bytes, height: int, timestamp_ms: int,
                       state: StateReader) -> tuple[bytes, list[bytes]]:
        """``query``, and every state key it read: what a verifier re-running the call on exactly
        those entries needs. The VM caches contracts' code hashes and compiled code, so a call
        may skip reading them; a verifier with a fresh VM reads them, so they are added."""
        recorder = RecordingState(state)
        result = self.query(to, method, args, sender=sender, height=height, timestamp_ms=timestamp_ms, state=recorder)
        for key in list(recorder.reads):
            if key.startswith(CONTRACT_KEY_PREFIX):
                info = ContractInfo.read(recorder, key[len(CONTRACT_KEY_PREFIX):])
                if info is not None:
                    recorder.get(code_key(info.code_hash))
        return result, list(recorder.reads)

    def query(self, to: bytes, method: str, args: bytes, *, sender: bytes = bytes(20), height: int = 0, timestamp_ms: int = 0,
              state: StateReader | None = None) -> bytes:
        """Run a read-only call on ``state`` (default: the committed state); raises ExecutionError on failure."""
        state = StateOverlay(state if state is not None else self.state)
        ctx = CallContext(
            state=state,
            block=BlockInfo(height=height, timestamp_ms=timestamp_ms, chain_id=self.chain_id, suite=self.suite),
            sender=sender,
            origin=sender,
            contract=to,
            fuel=FuelMeter(QUERY_FUEL_LIMIT),
            read_only=True,
        )
        try:
            if not to:
                raise ExecutionFailure("a query needs a contract address")
            return self._dispatch(ctx, method, args, b"")
        except ConsortiaError as exc:
            raise ExecutionError(exc.message) from None
        except Exception as exc:
            raise ExecutionError(f"internal error in contract: {exc.__class__.__name__}") from None
