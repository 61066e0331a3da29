"""Blocks, receipts, indexes, world state and used nonces in one LevelDB, one key space per prefix.

A block commits in a single synchronous ``WriteBatch`` holding the block, its certificate, its
receipts, the tx index, the state writes, the new state-tree nodes, the nonce records and the head
pointer, so a node killed at any instant finds either the whole block or none of it.

Key spaces (one-byte prefixes, heights and indexes big-endian so that iteration is in order):

====== ============================== ==========================================
prefix key                            value
====== ============================== ==========================================
``h``  (none)                         head height (8 bytes)
``b``  height                         block (canonical msgpack)
``k``  height                         block hash
``H``  block hash                     height
``c``  height                         commit certificate
``r``  height + index (4)             receipt
``t``  tx hash                        height + index
``s``  state key                      state value
``T``  tree node hash                 state-tree node (``node.statetree``; content-addressed,
                                      never overwritten; deleted only by pruning, below)
``P``  tree node hash                 a tree node fetched by snapshot sync, checked against its
                                      hash, in its wire form (``node.statetree.snapshot``); a
                                      staging area read only by snapshot sync, emptied by the
                                      batch that installs the snapshot
``R``  height + tree node hash         (empty) -- a node the block at that height replaced,
                                      deleted once the height leaves the kept state history
``Q``  tree node hash                 the height of its ``R`` record (a node built again by a
                                      later block drops its record: it is live again)
``n``  sender address + nonce         expiry height
``x``  expiry height + address+nonce  (empty) -- lets expired nonces be pruned in order
``m``  name                           node-local metadata (consensus, sync)
====== ============================== ==========================================

Every read verifies LevelDB's block checksums and every stored block, certificate and receipt
must decode. A read or write that fails (a corrupted table, a full disk, an I/O error) is a
``StoreFailure``: the store remembers it, refuses every later write, and tells its owner once
(``on_failure``), so the node stops taking part instead of working on data it cannot trust.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import plyvel

from node.errors import DecodeError, StoreError, StoreFailure
from node.store.db import RESYNC_HINT, first_line, open_database
from node.store.dbstats import LevelStats, parse_level_stats
from node.wire.types import Block, BlockHeader, CommitCertificate, Receipt

T = TypeVar("T")

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")

P_HEAD = b"h"
P_BLOCK = b"b"
P_BLOCK_HASH = b"k"
P_HASH_INDEX = b"H"
P_CERT = b"c"
P_RECEIPT = b"r"
P_TX_INDEX = b"t"
P_STATE = b"s"
P_TREE = b"T"
P_STAGED = b"P"
P_REPLACED = b"R"
P_REPLACED_AT = b"Q"
P_NONCE = b"n"
P_NONCE_EXPIRY = b"x"
P_META = b"m"


def u64(n: int) -> bytes:
    return _U64.pack(n)


@dataclass(frozen=True)
class NonceRecord:
    """A (sender, nonce) pair consumed by a committed transaction, remembered until it expires."""

    sender: bytes
    nonce: bytes
    expiry_height: int


@dataclass(frozen=True)
class BlockCommit:
    """Everything one block changes, written together."""

    block: Block
    block_hash: bytes
    certificate: CommitCertificate | None
    receipts: tuple[Receipt, ...]
    tx_hashes: tuple[bytes, ...]
    state_writes: Mapping[bytes, bytes | None]
    nonces: tuple[NonceRecord, ...]
    tree_nodes: Mapping[bytes, bytes]  # the state-tree nodes this block's root adds, by hash
    tree_replaced: frozenset[bytes] = frozenset()  # nodes of the parent's tree this block's tree drops


META_SNAPSHOT_BASE = "snapshot.base"
META_BACKFILL = "snapshot.backfill"  # the blocks below an installed snapshot whose nonces are still to read


@dataclass(frozen=True)
class SnapshotInstall:
    """A verified snapshot, ready to become the head (``ChainStore.install_snapshot``)."""

    block: Block
    block_hash: bytes
    certificate: CommitCertificate
    tree_nodes: Mapping[bytes, bytes]  # stored encodings of the tree's nodes the store lacks
    state: Mapping[bytes, bytes]  # the whole state after the block
    meta_to_drop: str  # the snapshot sync's progress record
    backfill: bytes  # the META_BACKFILL record to start with (node.p2p.backfill)
    nonces: tuple[NonceRecord, ...] = ()  # those of the snapshot block's own transactions


class ChainStore:
    """The node's persistent chain: append-only blocks plus the latest world state."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 on_failure: Callable[[str], None] | None = None, state_history: int = 0) -> None:
        self.path = str(path)
        if state_history < 0:
            raise ValueError("state_history must be 0 (archival) or a number of blocks")
        self.state_history = state_history  # 0: keep every version of the state tree (archival)
        self.on_failure = on_failure
        self.failure: str | None = None  # why this store stopped being usable, once it has
        self._db = open_database(path, create=create)
        self._head: int | None = self._read_head()
        self._head_header: BlockHeader | None = None

    # --- failures --------------------------------------------------------------------------

    def _failed(self, operation: str, exc: BaseException) -> StoreFailure:
        """Record that ``operation`` failed and return the error to raise (telling the owner once)."""
        corrupt = isinstance(exc, (plyvel.CorruptionError, DecodeError))
        detail = exc.message if isinstance(exc, DecodeError) else first_line(exc)
        message = f"database at {self.path}: {operation} failed: {detail}"
        if corrupt:
            message += f"; the database is corrupted; {RESYNC_HINT}"
        if self.failure is None:
            self.failure = message
            if self.on_failure is not None:
                self.on_failure(message)
        return StoreFailure(message)

    def _get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._db.get(key, verify_checksums=True)
            return value
        except plyvel.Error as exc:
            raise self._failed("read", exc) from None

    def _scan(self, **bounds: bytes) -> Iterator[tuple[bytes, bytes]]:
        try:
            yield from self._db.iterator(verify_checksums=True, **bounds)
        except plyvel.Error as exc:
            raise self._failed("read", exc) from None

    def _decoded(self, what: str, decode: Callable[[bytes], T], raw: bytes) -> T:
        try:
            return decode(raw)
        except DecodeError as exc:
            raise self._failed(f"decoding a stored {what}", exc) from None

    def _writable(self) -> None:
        if self.failure is not None:
            raise StoreFailure(f"refusing to write after an earlier failure: {self.failure}")

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()

    def level_stats(self) -> list[LevelStats]:
        """LevelDB's tables and compaction work per level since the open (for /metrics and the
        benchmarks); empty once the store is closed."""
        if self._db.closed:
            return []
        raw = self._db.get_property(b"leveldb.stats")
        return parse_level_stats(raw.decode("ascii", "replace")) if raw else []

    def __enter__(self) -> ChainStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_head(self) -> int | None:
        raw = self._get(P_HEAD)
        if raw is None:
            return None
        if len(raw) != 8:
            raise StoreError(f"database at {self.path} is corrupted: bad head pointer")
        head = _U64.unpack(raw)[0]
        if self._get(P_BLOCK + u64(head)) is None:
            raise StoreError(f"database at {self.path} is corrupted: head block {head} is missing")
        return head

    # --- blocks ----------------------------------------------------------------------------

    @property
    def head_height(self) -> int | None:
        """Height of the last committed block, None before genesis."""
        return self._head

    def get_block_bytes(self, height: int) -> bytes | None:
        return self._get(P_BLOCK + u64(height))

    def get_block(self, height: int) -> Block | None:
        raw = self.get_block_bytes(height)
        return None if raw is None else self._decoded("block", Block.decode, raw)

    def get_header(self, height: int) -> BlockHeader | None:
        if height == self._head and self._head_header is not None:
            return self._head_header
        block = self.get_block(height)
        return None if block is None else block.header

    def get_block_hash(self, height: int) -> bytes | None:
        return self._get(P_BLOCK_HASH + u64(height))

    def get_height_by_hash(self, block_hash: bytes) -> int | None:
        raw = self._get(P_HASH_INDEX + block_hash)
        return None if raw is None else _U64.unpack(raw)[0]

    def get_certificate(self, height: int) -> CommitCertificate | None:
        raw = self._get(P_CERT + u64(height))
        return None if raw is None else self._decoded("certificate", CommitCertificate.decode, raw)

    # --- transactions and receipts ---------------------------------------------------------

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        raw = self._get(P_TX_INDEX + tx_hash)
        if raw is None:
            return None
        return _U64.unpack(raw[:8])[0], _U32.unpack(raw[8:12])[0]

    def has_tx(self, tx_hash: bytes) -> bool:
        return self._get(P_TX_INDEX + tx_hash) is not None

    def get_receipt_at(self, height: int, index: int) -> Receipt | None:
        raw = self._get(P_RECEIPT + u64(height) + _U32.pack(index))
        return None if raw is None else self._decoded("receipt", Receipt.decode, raw)

    def get_receipt_bytes_at(self, height: int, index: int) -> bytes | None:
        return self._get(P_RECEIPT + u64(height) + _U32.pack(index))

    def receipts_at(self, height: int) -> list[Receipt]:
        prefix = P_RECEIPT + u64(height)
        return [self._decoded("receipt", Receipt.decode, v) for _, v in self._scan(prefix=prefix)]

    # --- state and nonces ------------------------------------------------------------------

    def state_get(self, key: bytes) -> bytes | None:
        return self._get(P_STATE + key)

    def tree_node(self, node_hash: bytes) -> bytes | None:
        """A committed state-tree node by its hash."""
        return self._get(P_TREE + node_hash)

    def state_snapshot(self) -> StateSnapshot:
        """A consistent read-only view of the state as of now, unaffected by later commits."""
        return StateSnapshot(self._db.snapshot())

    def state_items(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for k, v in self._scan(prefix=P_STATE + prefix):
            yield k[1:], v

    def nonce_expiry(self, sender: bytes, nonce: bytes) -> int | None:
        raw = self._get(P_NONCE + sender + nonce)
        return None if raw is None else _U64.unpack(raw)[0]

    # --- node-local metadata ---------------------------------------------------------------

    def meta_get(self, name: str) -> bytes | None:
        return self._get(P_META + name.encode())

    def meta_put(self, name: str, value: bytes, *, sync: bool = True) -> None:
        self._writable()
        try:
            self._db.put(P_META + name.encode(), value, sync=sync)
        except plyvel.Error as exc:
            raise self._failed("write", exc) from None

    # --- commit ----------------------------------------------------------------------------

    def commit(self, c: BlockCommit) -> None:
        """Write one block and everything it changes in one synchronous batch."""
        height = c.block.height
        expected = 0 if self._head is None else self._head + 1
        if height != expected:
            raise StoreError(f"refusing to commit block {height}: next height is {expected}")
        self._writable()
        try:
            self._write_block(c)
        except plyvel.Error as exc:
            raise self._failed(f"writing block {height}", exc) from None
        self._head = height
        self._head_header = c.block.header

    def _write_block(self, c: BlockCommit) -> None:
        height = c.block.height
        h = u64(height)
        with self._db.write_batch(transaction=True, sync=True) as wb:
            wb.put(P_BLOCK + h, c.block.encode())
            wb.put(P_BLOCK_HASH + h, c.block_hash)
            wb.put(P_HASH_INDEX + c.block_hash, h)
            if c.certificate is not None:
                wb.put(P_CERT + h, c.certificate.encode())
            for i, (tx_hash, receipt) in enumerate(zip(c.tx_hashes, c.receipts)):
                idx = _U32.pack(i)
                wb.put(P_TX_INDEX + tx_hash, h + idx)
                wb.put(P_RECEIPT + h + idx, receipt.encode())
            for key, value in c.state_writes.items():
                if value is None:
                    wb.delete(P_STATE + key)
                else:
                    wb.put(P_STATE + key, value)
            for node_hash, node in c.tree_nodes.items():
                wb.put(P_TREE + node_hash, node)
            if self.state_history:
                self._prune(wb, c)
            for rec in c.nonces:
                wb.put(P_NONCE + rec.sender + rec.nonce, u64(rec.expiry_height))
                wb.put(P_NONCE_EXPIRY + u64(rec.expiry_height) + rec.sender + rec.nonce, b"")
            # Nonces whose expiry height has passed can never be replayed (the tx is expired too).
            for key, _ in self._scan(start=P_NONCE_EXPIRY, stop=P_NONCE_EXPIRY + u64(height + 1)):
                wb.delete(key)
                wb.delete(P_NONCE + key[9:])
            wb.put(P_HEAD, h)

    # --- snapshot sync ---------------------------------------------------------------------

    def staged_node(self, node_hash: bytes) -> bytes | None:
        """A tree node fetched by snapshot sync and not installed yet (its wire form)."""
        return self._get(P_STAGED + node_hash)

    def has_staged(self) -> bool:
        """Whether any snapshot node is staged (from an earlier, interrupted attempt)."""
        return next(self._scan(prefix=P_STAGED), None) is not None

    def stage_nodes(self, nodes: Mapping[bytes, bytes]) -> None:
        """Keep checked snapshot nodes until the whole tree is here. Not synchronous: a node lost
        in a crash is simply fetched again (the resumed walk finds it missing)."""
        self._writable()
        try:
            with self._db.write_batch(transaction=True, sync=False) as wb:
                for node_hash, raw in nodes.items():
                    wb.put(P_STAGED + node_hash, raw)
        except plyvel.Error as exc:
            raise self._failed("writing snapshot nodes", exc) from None

    def clear_staged(self) -> int:
        """Drop every staged snapshot node (a snapshot given up); returns how many."""
        self._writable()
        count = 0
        try:
            with self._db.write_batch(transaction=True, sync=True) as wb:
                for key, _ in self._scan(prefix=P_STAGED):
                    wb.delete(key)
                    count += 1
        except plyvel.Error as exc:
            raise self._failed("dropping snapshot nodes", exc) from None
        return count

    def install_snapshot(self, s: SnapshotInstall) -> None:
        """Make a snapshot's block the head in one synchronous batch: its tree nodes, the whole
        ``s`` key space replaced by its state, the block, its hash entries and certificate, the
        staging area emptied, the sync record dropped and the head pointer moved. A node killed
        at any instant finds either its old head with its old state, or the new one complete."""
        height = s.block.height
        if self._head is not None and height <= self._head:
            raise StoreError(f"refusing to install a snapshot at {height}: the head is already {self._head}")
        self._writable()
        h = u64(height)
        try:
            with self._db.write_batch(transaction=True, sync=True) as wb:
                for node_hash, node in s.tree_nodes.items():
                    wb.put(P_TREE + node_hash, node)
                for key, _ in self._scan(prefix=P_STATE):
                    wb.delete(key)
                for key, value in s.state.items():
                    wb.put(P_STATE + key, value)
                for key, _ in self._scan(prefix=P_STAGED):
                    wb.delete(key)
                # The old history's pending deletions go: some of those nodes may be live in the
                # snapshot's tree (they stay stored for good; a leak, never a loss).
                for prefix in (P_REPLACED, P_REPLACED_AT):
                    for key, _ in self._scan(prefix=prefix):
                        wb.delete(key)
                wb.put(P_BLOCK + h, s.block.encode())
                wb.put(P_BLOCK_HASH + h, s.block_hash)
                wb.put(P_HASH_INDEX + s.block_hash, h)
                wb.put(P_CERT + h, s.certificate.encode())
                wb.delete(P_META + s.meta_to_drop.encode())
                wb.put(P_META + META_SNAPSHOT_BASE.encode(), h)
                wb.put(P_META + META_BACKFILL.encode(), s.backfill)
                for rec in s.nonces:
                    wb.put(P_NONCE + rec.sender + rec.nonce, u64(rec.expiry_height))
                    wb.put(P_NONCE_EXPIRY + u64(rec.expiry_height) + rec.sender + rec.nonce, b"")
                wb.put(P_HEAD, h)
        except plyvel.Error as exc:
            raise self._failed(f"installing the snapshot at {height}", exc) from None
        self._head = height
        self._head_header = s.block.header

    def put_nonces(self, records: list[NonceRecord], *, meta: tuple[str, bytes]) -> None:
        """Nonce records of transactions committed below a snapshot, with the backfill's progress
        record, in one synchronous batch (so a restart resumes exactly after what is stored)."""
        self._writable()
        try:
            with self._db.write_batch(transaction=True, sync=True) as wb:
                for rec in records:
                    wb.put(P_NONCE + rec.sender + rec.nonce, u64(rec.expiry_height))
                    wb.put(P_NONCE_EXPIRY + u64(rec.expiry_height) + rec.sender + rec.nonce, b"")
                name, value = meta
                if value:
                    wb.put(P_META + name.encode(), value)
                else:
                    wb.delete(P_META + name.encode())
        except plyvel.Error as exc:
            raise self._failed("writing nonce records", exc) from None

    def snapshot_base(self) -> int | None:
        """The height of the snapshot this store was installed from (blocks below it, except
        genesis and any the node had before, are not held), None if it never installed one."""
        raw = self.meta_get(META_SNAPSHOT_BASE)
        return None if raw is None or len(raw) != 8 else _U64.unpack(raw)[0]

    def _prune(self, wb: Any, c: BlockCommit) -> None:
        """In the block's own batch: record the nodes it replaced, forget the records of nodes it
        builds again, and delete the nodes replaced ``state_history`` or more blocks ago (all such
        records, so a restart or a changed setting leaves none behind)."""
        height = c.block.height
        revived: set[bytes] = set()
        for node_hash in c.tree_nodes:
            at = self._get(P_REPLACED_AT + node_hash)
            if at is not None:
                wb.delete(P_REPLACED + at + node_hash)
                wb.delete(P_REPLACED_AT + node_hash)
                revived.add(node_hash)
        h = u64(height)
        for node_hash in c.tree_replaced:
            wb.put(P_REPLACED + h + node_hash, b"")
            wb.put(P_REPLACED_AT + node_hash, h)
        cutoff = height - self.state_history  # the trees of heights >= cutoff stay whole
        if cutoff < 1:
            return
        for key, _ in self._scan(start=P_REPLACED, stop=P_REPLACED + u64(cutoff + 1)):
            node_hash = key[9:]
            if node_hash in revived:
                continue
            wb.delete(key)
            wb.delete(P_REPLACED_AT + node_hash)
            wb.delete(P_TREE + node_hash)

    def tree_floor(self) -> int:
        """The lowest height whose whole state tree is stored: 0 on an archival node, else the head
        minus ``state_history`` (a snapshot-synced node holds no tree below its snapshot either)."""
        head = self._head or 0
        floor = 0 if not self.state_history else max(0, head - self.state_history)
        base = self.snapshot_base()
        return floor if base is None else max(floor, base)

    def put_certificate(self, height: int, cert: CommitCertificate) -> None:
        """Attach a certificate to an already committed block (e.g. one received later)."""
        self._writable()
        try:
            self._db.put(P_CERT + u64(height), cert.encode(), sync=True)
        except plyvel.Error as exc:
            raise self._failed("write", exc) from None


__all__ = ["BlockCommit", "ChainStore", "NonceRecord", "SnapshotInstall", "plyvel"]


class StateSnapshot:
    """State reads pinned to a LevelDB snapshot, for queries that run off the event loop."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._snapshot.get(P_STATE + key, verify_checksums=True)
            return value
        except plyvel.Error as exc:
            raise StoreFailure(f"state snapshot read failed: {first_line(exc)}") from None

    def close(self) -> None:
        self._snapshot.close()
