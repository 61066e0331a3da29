"""Signature verification off the event loop, in batches, on the other cores.

SM2 verification costs a few hundred microseconds, which on the event loop would cap a node at a
couple of thousand transactions per second and stall RPC meanwhile. Requests arriving together
(one JSON-RPC batch, or many clients) are grouped into batches and verified in worker processes;
each caller awaits only its own result.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from node.crypto import get_suite

Item = tuple[bytes, bytes, bytes]  # public key, message, signature


PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker as soon as the node that started it is gone.

    A worker holds both ends of its task queue's pipe, so it never sees end-of-file when its node
    is killed (``kill -9``) and would wait forever; each restart would add more. A daemon thread
    watching the parent's pid ends it within ``PARENT_POLL_SECONDS`` instead."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(PARENT_POLL_SECONDS)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _verify_batch(suite_name: str, items: Sequence[Item]) -> list[bool]:
    suite = get_suite(suite_name)
    return [suite.verify(pub, msg, sig) for pub, msg, sig in items]


def default_workers() -> int:
    """Leave one core to the event loop; none on a single-core machine."""
    return max(0, (os.cpu_count() or 1) - 1)


class BatchVerifier:
    def __init__(self, suite_name: str, *, workers: int | None = None, max_batch: int = 128) -> None:
        self.suite_name = suite_name
        self.suite = get_suite(suite_name)
        self.workers = default_workers() if workers is None else workers
        self.max_batch = max_batch
        self._pool: ProcessPoolExecutor | None = None
        self._queue: list[tuple[Item, asyncio.Future[bool]]] = []
        self._in_flight = 0
        self._scheduled = False

    @property
    def offloads(self) -> bool:
        """True when signatures are checked in worker processes (else on the caller's thread)."""
        return self._pool is not None

    def start(self) -> None:
        if self.workers > 0 and self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_exit_with_parent,
                                             initargs=(os.getpid(),))
            # Warm the workers so the first transactions do not pay for interpreter start-up.
            for _ in range(self.workers):
                self._pool.submit(_verify_batch, self.suite_name, [])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if self._pool is None:
            return self.suite.verify(public_key, message, signature)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._queue.append(((public_key, message, signature), fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        """Send queued items to the workers, at most one batch in flight per worker plus one."""
        self._scheduled = False
        while self._queue and self._in_flight <= self.workers:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Item, asyncio.Future[bool]]]) -> None:
        loop = asyncio.get_running_loop()
        items = [item for item, _ in batch]
        try:
            if self._pool is None:
                raise RuntimeError("verifier closed")
            results = await loop.run_in_executor(self._pool, _verify_batch, self.suite_name, items)
        except Exception:
            # A broken pool must not reject valid transactions: fall back to verifying here.
            results = [self.suite.verify(*item) for item in items]
        finally:
            self._in_flight -= 1
        for (_, fut), ok in zip(batch, results):
            if not fut.done():
                fut.set_result(ok)
        if self._queue and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
