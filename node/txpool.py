"""The transaction pool: admission checks, bounded capacity, fair selection across senders.

Admission (in this order, cheapest first): size, canonical decoding, chain id, suite key and
signature size, expiry window, duplicate hash (pooled or committed), nonce already used by the
sender (pooled or committed within the live window), sender frozen by the governance committee,
capacity, and finally the signature itself.

Selection is round-robin over senders in order of first arrival, so one busy sender cannot starve
the others; within a sender, transactions leave in arrival order. A transaction stays in the pool
until a block containing it commits, or until it is dropped: it expired, another transaction of
its sender with the same nonce committed (possible when conflicting transactions were sent to
different nodes), or a proposer found it can no longer be included. The pool remembers the last
``DROPPED_MEMORY`` dropped hashes with the reason, so ``tx_get`` can say what became of them.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from node.crypto.base import CryptoSuite
from node.errors import AccountFrozen, BadSignature, DuplicateTransaction, InvalidTransaction, PoolFull
from node.txcheck import CheckedTx, decode_and_check

DROPPED_MEMORY = 10_000  # dropped transactions remembered (in memory, newest kept) for tx_get

# Why a transaction left the pool without being committed (``DropRecord.reason``).
DROP_EXPIRED = "expired"  # its expiry_height was reached
DROP_NONCE_USED = "nonce_used"  # another transaction of its sender with the same nonce committed
DROP_INVALID = "invalid"  # a proposer found it can no longer be included (e.g. fuel_limit above max_tx_fuel)


@dataclass(frozen=True)
class DropRecord:
    """What became of a transaction that left the pool without being committed."""

    reason: str  # DROP_EXPIRED, DROP_NONCE_USED or DROP_INVALID
    detail: str  # one human-readable line
    height: int  # the head height when it was dropped


@dataclass(frozen=True)
class PoolLimits:
    capacity: int = 50_000
    per_sender: int = 5_000


class TxPool:
    def __init__(
        self,
        suite: CryptoSuite,
        chain_id: str,
        *,
        head_height: Callable[[], int],
        is_committed: Callable[[bytes], bool],
        nonce_used: Callable[[bytes, bytes], bool],
        expiry_window: Callable[[], int],
        max_tx_bytes: Callable[[], int],
        max_tx_fuel: Callable[[], int] | None = None,
        is_frozen: Callable[[bytes], bool] | None = None,
        limits: PoolLimits = PoolLimits(),
    ) -> None:
        self.suite = suite
        self.chain_id = chain_id
        self._head_height = head_height
        self._is_committed = is_committed
        self._nonce_used = nonce_used
        self._expiry_window = expiry_window
        self._max_tx_bytes = max_tx_bytes
        self._max_tx_fuel = max_tx_fuel
        self._is_frozen = is_frozen
        self.limits = limits
        self._by_hash: dict[bytes, CheckedTx] = {}
        self._arrival: dict[bytes, float] = {}  # insertion-ordered: oldest first
        self._local: set[bytes] = set()  # admitted from our own clients (we re-gossip these)
        self._nonces: dict[tuple[bytes, bytes], bytes] = {}  # (sender, nonce) -> the pooled hash using it
        self._queues: OrderedDict[bytes, deque[CheckedTx]] = OrderedDict()
        # Pooled hashes by expiry height, and those heights in a heap (each once; a height whose
        # bucket emptied stays in the heap until it passes). A hash leaves its bucket when it
        # leaves the pool: a committed transaction must not be held until its expiry height
        # (with a long tx_expiry_window, that was every transaction admitted in the window).
        self._expiry_heap: list[int] = []
        self._heap_heights: set[int] = set()
        self._by_expiry: dict[int, set[bytes]] = {}
        self._arrived = asyncio.Event() if _has_loop() else None
        self._dropped: OrderedDict[bytes, DropRecord] = OrderedDict()

    # --- admission -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> CheckedTx | None:
        return self._by_hash.get(tx_hash)

    def dropped(self, tx_hash: bytes) -> DropRecord | None:
        """Why ``tx_hash`` left the pool uncommitted, if it is among the last DROPPED_MEMORY dropped."""
        return self._dropped.get(tx_hash)

    def check(self, raw: bytes) -> CheckedTx:
        """Every admission rule except capacity and the signature; cheap, raises on failure."""
        checked = decode_and_check(self.suite, self.chain_id, raw, max_bytes=self._max_tx_bytes(), verify=False)
        tx = checked.tx
        head = self._head_height()
        next_height = head + 1
        window = self._expiry_window()
        if tx.expiry_height <= next_height:  # valid only in blocks below expiry_height: not even the next one
            raise InvalidTransaction(
                f"transaction expired: expiry_height {tx.expiry_height} must be above the next block's height {next_height}"
            )
        if tx.expiry_height > head + window:
            raise InvalidTransaction(
                f"expiry_height {tx.expiry_height} is too far ahead: at most head ({head}) + {window}"
            )
        if self._max_tx_fuel is not None and tx.fuel_limit > (max_fuel := self._max_tx_fuel()):
            raise InvalidTransaction(f"fuel_limit {tx.fuel_limit} is above the chain's max_tx_fuel {max_fuel}")
        if checked.hash in self._by_hash or self._is_committed(checked.hash):
            raise DuplicateTransaction(f"transaction 0x{checked.hash.hex()} is already known")
        if (checked.sender, tx.nonce) in self._nonces or self._nonce_used(checked.sender, tx.nonce):
            raise DuplicateTransaction("nonce already used by this sender (replay)")
        if self._is_frozen is not None and self._is_frozen(checked.sender):
            raise AccountFrozen(f"account 0x{checked.sender.hex()} is frozen by the governance committee")
        return checked

    def add(self, raw: bytes) -> CheckedTx:
        """Admit one client transaction or raise a ConsortiaError saying why not (the chain
        publishes refusals as ``TxRejected``: metrics count them there)."""
        checked = self.check(raw)
        self._check_capacity(checked)
        if not self.suite.verify(checked.tx.sender_pubkey, checked.signing, checked.tx.signature):
            raise BadSignature("signature does not verify")
        self._insert(checked)
        return checked

    async def add_async(self, raw: bytes, verify: Callable[[bytes, bytes, bytes], Awaitable[bool]]) -> CheckedTx:
        """Like ``add``, with the signature checked by ``verify`` (e.g. a BatchVerifier) off the loop."""
        checked = self.check(raw)
        self._check_capacity(checked)
        tx = checked.tx
        if not await verify(tx.sender_pubkey, checked.signing, tx.signature):
            raise BadSignature("signature does not verify")
        # Others may have been admitted while we awaited: re-check what may have changed.
        self._recheck(checked)
        self._check_capacity(checked)
        self._insert(checked)
        return checked

    def _recheck(self, checked: CheckedTx) -> None:
        if checked.hash in self._by_hash or self._is_committed(checked.hash):
            raise DuplicateTransaction(f"transaction 0x{checked.hash.hex()} is already known")
        if (checked.sender, checked.tx.nonce) in self._nonces or self._nonce_used(checked.sender, checked.tx.nonce):
            raise DuplicateTransaction("nonce already used by this sender (replay)")
        if checked.tx.expiry_height <= self._head_height() + 1:
            raise InvalidTransaction("transaction expired while its signature was being checked")

    def _check_capacity(self, checked: CheckedTx) -> None:
        if len(self._by_hash) >= self.limits.capacity:
            raise PoolFull(f"transaction pool is full ({self.limits.capacity} transactions); retry later")
        queue = self._queues.get(checked.sender)
        if queue is not None and len(queue) >= self.limits.per_sender:
            raise PoolFull(f"sender has {self.limits.per_sender} pending transactions; wait for some to commit")

    def add_verified(self, checked: CheckedTx) -> None:
        """Insert a transaction whose checks (including signature) were already done elsewhere."""
        if checked.hash in self._by_hash:
            raise DuplicateTransaction(f"transaction 0x{checked.hash.hex()} is already known")
        if (checked.sender, checked.tx.nonce) in self._nonces:
            raise DuplicateTransaction("nonce already used by this sender (replay)")
        if len(self._by_hash) >= self.limits.capacity:
            raise PoolFull(f"transaction pool is full ({self.limits.capacity} transactions); retry later")
        self._insert(checked)

    def pending_raw(self, *, older_than_ms: int = 0, limit: int = 4_096, local_only: bool = False) -> list[bytes]:
        """Encodings of pending transactions admitted at least ``older_than_ms`` ago (oldest first);
        ``local_only``: only those that came from our own clients, not from peers."""
        cutoff = time.monotonic() - older_than_ms / 1000
        out: list[bytes] = []
        for tx_hash, arrived in self._arrival.items():
            if arrived > cutoff or len(out) >= limit:
                break
            if local_only and tx_hash not in self._local:
                continue
            checked = self._by_hash.get(tx_hash)
            if checked is not None:
                out.append(checked.tx.encode())
        return out

    @property
    def local_count(self) -> int:
        """Pending transactions that came from our own clients."""
        return len(self._local)

    def mark_local(self, tx_hash: bytes) -> None:
        if tx_hash in self._by_hash:
            self._local.add(tx_hash)

    def _insert(self, checked: CheckedTx) -> None:
        self._arrival[checked.hash] = time.monotonic()
        self._by_hash[checked.hash] = checked
        self._nonces[(checked.sender, checked.tx.nonce)] = checked.hash
        self._dropped.pop(checked.hash, None)  # admitted again: pending, no longer dropped
        queue = self._queues.get(checked.sender)
        if queue is None:
            queue = self._queues[checked.sender] = deque()
        queue.append(checked)
        expiry = checked.tx.expiry_height
        bucket = self._by_expiry.get(expiry)
        if bucket is None:
            bucket = self._by_expiry[expiry] = set()
            if expiry not in self._heap_heights:
                self._heap_heights.add(expiry)
                heapq.heappush(self._expiry_heap, expiry)
        bucket.add(checked.hash)
        if self._arrived is not None:
            self._arrived.set()

    # --- selection -------------------------------------------------------------------------

    def select(self, limit: int, exclude: set[bytes] | frozenset[bytes] = frozenset()) -> list[CheckedTx]:
        """Up to ``limit`` pending transactions, round-robin across senders; nothing is removed."""
        out: list[CheckedTx] = []
        iters = [iter(q) for q in self._queues.values()]
        while iters and len(out) < limit:
            still = []
            for it in iters:
                for item in it:
                    if item.hash in exclude:
                        continue
                    out.append(item)
                    still.append(it)
                    break
                if len(out) >= limit:
                    break
            iters = still
        return out

    async def wait_for_transactions(self, timeout: float) -> bool:
        """Wait until the pool is non-empty (True) or ``timeout`` passes (False)."""
        if self._by_hash:
            return True
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- removal ---------------------------------------------------------------------------

    def remove(self, hashes: Iterable[bytes]) -> None:
        """Drop transactions that were committed (or proved invalid)."""
        removed: dict[bytes, int] = {}
        for h in hashes:
            checked = self._by_hash.pop(h, None)
            self._arrival.pop(h, None)
            self._local.discard(h)
            if checked is None:
                continue
            if self._nonces.get((checked.sender, checked.tx.nonce)) == h:
                del self._nonces[(checked.sender, checked.tx.nonce)]
            bucket = self._by_expiry.get(checked.tx.expiry_height)
            if bucket is not None:
                bucket.discard(h)
                if not bucket:
                    del self._by_expiry[checked.tx.expiry_height]
            removed[checked.sender] = removed.get(checked.sender, 0) + 1
        by_hash = self._by_hash
        for sender, count in removed.items():
            queue = self._queues.get(sender)
            if queue is None:
                continue
            # Blocks take each sender's oldest transactions first, so they are usually at the front.
            while queue and count and queue[0].hash not in by_hash:
                queue.popleft()
                count -= 1
            if count:
                queue = deque(c for c in queue if c.hash in by_hash)
                self._queues[sender] = queue
            if not queue:
                del self._queues[sender]

    def evict_expired(self, head: int) -> int:
        """Remove transactions that can no longer be included after block ``head``: those valid
        only below a height <= head + 1 (O(expired), not O(pool): buckets by expiry height)."""
        stale: list[bytes] = []
        heap = self._expiry_heap
        while heap and heap[0] <= head + 1:
            height = heapq.heappop(heap)
            self._heap_heights.discard(height)
            stale.extend(h for h in self._by_expiry.pop(height, ()) if h in self._by_hash)
        for h in stale:
            expiry = self._by_hash[h].tx.expiry_height
            self._remember_dropped(h, DropRecord(DROP_EXPIRED, f"expired: valid only below height {expiry}, and block {head} "
                                                 "is committed", head))
        self.remove(stale)
        return len(stale)

    def on_commit(self, height: int, committed: Iterable[bytes], used_nonces: Iterable[tuple[bytes, bytes]]) -> None:
        """A block at ``height`` committed ``committed`` and consumed ``used_nonces`` (sender, nonce):
        those transactions leave the pool, and so does every other pooled transaction with one of
        those (sender, nonce) pairs, which can now never commit; then the expired leave."""
        committed = set(committed)
        self.remove(committed)
        conflicting: list[bytes] = []
        for pair in used_nonces:
            h = self._nonces.get(pair)
            if h is not None and h not in committed:
                conflicting.append(h)
                self._remember_dropped(h, DropRecord(
                    DROP_NONCE_USED, f"another transaction of the same sender with the same nonce committed in block {height}",
                    height))
        self.remove(conflicting)
        self.evict_expired(height)

    def drop_invalid(self, dropped: Iterable[tuple[CheckedTx, str]], height: int) -> None:
        """Remove transactions a proposal for block ``height`` found it can never include, with why."""
        gone: list[bytes] = []
        for checked, why in dropped:
            if checked.hash not in self._by_hash:
                continue
            if checked.tx.expiry_height <= height:
                reason = DROP_EXPIRED
            elif self._nonce_used(checked.sender, checked.tx.nonce):
                reason = DROP_NONCE_USED
            else:
                reason = DROP_INVALID
            self._remember_dropped(checked.hash, DropRecord(reason, why, self._head_height()))
            gone.append(checked.hash)
        self.remove(gone)

    def _remember_dropped(self, tx_hash: bytes, record: DropRecord) -> None:
        self._dropped[tx_hash] = record
        self._dropped.move_to_end(tx_hash)
        while len(self._dropped) > DROPPED_MEMORY:
            self._dropped.popitem(last=False)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
