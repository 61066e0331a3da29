"""The chain's read side: committed blocks, transactions and receipts, receipt inclusion proofs and
state proofs.

Everything a client may read about the chain is answered here from the store (plus the pool for
transactions not committed yet), so transports (JSON-RPC, WebSocket subscriptions, later the
explorer) format results and never reach into the store themselves. A store entry that is
missing, or that disagrees with the entries it should match, reads as "not there" (``None``):
client input and a damaged database must never crash a read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from consensus.api import ChainHead
from node.crypto.base import CryptoSuite
from node.errors import StatePruned, StoreError
from node.genesis import Genesis
from node.merkle import merkle_proof
from node.proofs import ReceiptProof
from node.statetree import CommittedNodes, StateProof, prove
from node.store.chainstore import ChainStore
from node.txcheck import CheckedTx
from node.txpool import DropRecord
from node.wire.types import Block, CommitCertificate, Receipt, Transaction


class PendingTxs(Protocol):
    """The pool, as far as reading pending transactions goes."""

    def get(self, tx_hash: bytes) -> CheckedTx | None: ...

    def dropped(self, tx_hash: bytes) -> DropRecord | None: ...


@dataclass(frozen=True)
class StoredBlock:
    block: Block
    block_hash: bytes
    certificate: CommitCertificate | None  # None for genesis


@dataclass(frozen=True)
class TxLocation:
    height: int
    index: int
    block_hash: bytes | None  # None only if the store lost the block's hash entry


@dataclass(frozen=True)
class FoundTx:
    tx: Transaction
    location: TxLocation | None  # None: pending in the pool


@dataclass(frozen=True)
class FoundReceipt:
    receipt: Receipt
    height: int
    index: int
    block_hash: bytes


@dataclass(frozen=True)
class BlockEvent:
    """One event emitted at a height, with where it came from."""

    tx_hash: bytes
    tx_index: int
    event_index: int
    contract: bytes
    name: str
    data: bytes


def committed_head(store: ChainStore) -> ChainHead:
    """The last committed block as consensus and clients see it."""
    height = store.head_height or 0
    header = store.get_header(height)
    block_hash = store.get_block_hash(height)
    if header is None or block_hash is None:
        raise StoreError(f"head block {height} is missing")
    return ChainHead(height=height, block_hash=block_hash, state_root=header.state_root, timestamp_ms=header.timestamp_ms)


class ChainReader:
    """Read-only queries over the committed chain (and the pool, for pending transactions)."""

    def __init__(self, store: ChainStore, suite: CryptoSuite, genesis: Genesis, pool: PendingTxs | None = None) -> None:
        self.store = store
        self.suite = suite
        self.genesis = genesis
        self.pool = pool

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    # --- head --------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        h = self.store.head_height
        return 0 if h is None else h

    def head(self) -> ChainHead:
        return committed_head(self.store)

    def genesis_hash(self) -> bytes:
        block_hash = self.store.get_block_hash(0)
        if block_hash is None:
            raise StoreError("the genesis block is missing")
        return block_hash

    # --- blocks ------------------------------------------------------------------------------

    def block(self, height: int) -> StoredBlock | None:
        block = self.store.get_block(height)
        block_hash = self.store.get_block_hash(height)
        if block is None or block_hash is None:
            return None
        return StoredBlock(block, block_hash, self.store.get_certificate(height))

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of a committed block by its hash."""
        return self.store.get_height_by_hash(block_hash)

    def certificate(self, height: int) -> CommitCertificate | None:
        return self.store.get_certificate(height)

    # --- transactions and receipts ----------------------------------------------------------

    def transaction(self, tx_hash: bytes) -> FoundTx | None:
        """A pending transaction from the pool, else a committed one, else None."""
        pooled = None if self.pool is None else self.pool.get(tx_hash)
        if pooled is not None:
            return FoundTx(pooled.tx, None)
        loc = self.store.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, index = loc
        block = self.store.get_block(height)
        if block is None or not 0 <= index < len(block.txs):
            return None
        return FoundTx(block.txs[index], TxLocation(height, index, self.store.get_block_hash(height)))

    def dropped(self, tx_hash: bytes) -> DropRecord | None:
        """Why a transaction this node had pooled left without being committed (recent ones only);
        None when it is unknown, pending or committed."""
        if self.pool is None or self.store.get_tx_location(tx_hash) is not None:
            return None
        return self.pool.dropped(tx_hash)

    def receipt(self, tx_hash: bytes) -> FoundReceipt | None:
        """The receipt of a committed transaction, or None (not committed, or not in the store)."""
        loc = self.store.get_tx_location(tx_hash)
        if loc is None:
            return None
        height, index = loc
        receipt = self.store.get_receipt_at(height, index)
        block_hash = self.store.get_block_hash(height)
        if receipt is None or block_hash is None:
            return None
        return FoundReceipt(receipt, height, index, block_hash)

    def receipts_at(self, height: int) -> list[Receipt]:
        return self.store.receipts_at(height)

    def events_at(self, height: int) -> list[BlockEvent]:
        """Every event of the block at ``height``, in transaction then emission order."""
        return [
            BlockEvent(r.tx_hash, r.index, i, ev.contract, ev.name, ev.data)
            for r in self.store.receipts_at(height)
            for i, ev in enumerate(r.events)
        ]

    # --- proofs ------------------------------------------------------------------------------

    def receipt_proof(self, height: int, index: int) -> ReceiptProof | None:
        """The inclusion proof of the ``index``-th transaction and receipt of block ``height``.

        None when the block, its hash or its receipts are missing, or the index lies outside
        them: a proof is only ever built from a complete, consistent block."""
        stored = self.block(height)
        if stored is None:
            return None
        hash_fn = self.suite.hash
        tx_hashes = [hash_fn(t.signing_bytes()) for t in stored.block.txs]
        receipts = [r.encode() for r in self.store.receipts_at(height)]
        if len(receipts) != len(tx_hashes) or not 0 <= index < len(tx_hashes):
            return None
        return ReceiptProof(
            block_hash=stored.block_hash,
            header_raw=stored.block.header.encode(),
            tx_index=index,
            tx_proof=tuple(merkle_proof(hash_fn, tx_hashes, index)),
            receipt_proof=tuple(merkle_proof(hash_fn, receipts, index)),
            certificate_raw=None if stored.certificate is None else stored.certificate.encode(),
        )

    def state_proof(self, key: bytes, height: int | None = None) -> StateProof | None:
        """The value of state ``key`` after block ``height`` (default: the head), or its absence,
        with the proof against that block's state root and the block's certificate.

        None when the block is not in the store; ``StatePruned`` when its tree is no longer
        whole here (``ChainStore.tree_floor``). Below the head, a missing tree node is a
        ``TreeError`` (a ``StoreError``): this node's database is damaged."""
        at = self.height if height is None else height
        floor = self.store.tree_floor()
        if at < floor:
            raise StatePruned(f"the state at height {at} is pruned on this node: it proves heights {floor} and above",
                              data={"oldest_height": floor})
        stored = self.block(at)
        if stored is None:
            return None
        header = stored.block.header
        value, proof = prove(self.suite.hash, CommittedNodes(self.store.tree_node), header.state_root, key)
        return StateProof(
            key=key,
            value=value,
            height=header.height,
            block_hash=stored.block_hash,
            header_raw=header.encode(),
            proof=proof.encode(),
            certificate_raw=None if stored.certificate is None else stored.certificate.encode(),
        )
