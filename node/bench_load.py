"""Load phases against a running network: as fast as it commits (closed loop), and at a fixed
offered rate (open loop) for the latency percentiles.

Both count commits from one validator's block subscription. The closed loop keeps a bounded
number of transactions outstanding (submitted, not yet committed), so the pool never overflows
and what is measured is what the network commits, not how fast the pool fills.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

BATCH = 200
TICK = 0.02  # seconds between paced batches


class BlockWatcher:
    """Follows committed blocks over WebSocket: commit time per transaction hash and a running count."""

    def __init__(self, url: str, from_height: int) -> None:
        self.url = url
        self.from_height = from_height
        self.committed: dict[str, float] = {}
        self.count = 0
        self.height = from_height - 1
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        """Follow blocks, resubscribing from the next height whenever the connection ends (the
        node closes a WebSocket whose pings went unanswered while this process was busy)."""
        failures = 0
        while True:
            try:
                await self._follow()
                failures = 0
            except (TimeoutError, aiohttp.ClientError, OSError):
                failures += 1
                if failures > 20:
                    raise
            self.reconnects += 1
            await asyncio.sleep(0.2)

    async def _follow(self) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.url.replace("http://", "ws://") + "/ws", max_msg_size=0, heartbeat=10) as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe",
                                    "params": {"topic": "blocks", "from_height": self.height + 1}})
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue
                    data = json.loads(msg.data)
                    if data.get("method") != "sub_notify":
                        continue
                    now = time.perf_counter()
                    result = data["params"]["result"]
                    if result["height"] <= self.height:
                        continue  # resent after a reconnect
                    self.height = result["height"]
                    for h in result["txs"]:
                        self.committed[h] = now
                    self.count += len(result["txs"])

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def check(self) -> None:
        """Raise the watcher's own error (a closed subscription would otherwise look like a stall)."""
        if self._task is not None and self._task.done() and not self._task.cancelled() and self._task.exception():
            raise RuntimeError(f"block subscription failed: {self._task.exception()!r}")

    async def wait_for(self, hashes: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(h not in self.committed for h in hashes):
            self.check()
            if time.perf_counter() > deadline:
                missing = sum(1 for h in hashes if h not in self.committed)
                raise RuntimeError(f"{missing} transactions not committed within {timeout:.0f}s")
            await asyncio.sleep(0.05)


async def send_batch(session: aiohttp.ClientSession, url: str, raws: list[str]) -> tuple[list[str], list[str]]:
    """One JSON-RPC batch of ``tx_send``: (accepted hashes, refusal messages)."""
    body = [{"jsonrpc": "2.0", "id": i, "method": "tx_send", "params": [raw]} for i, raw in enumerate(raws)]
    async with session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
        replies = await resp.json()
    hashes, errors = [], []
    for r in replies:
        if "error" in r:
            errors.append(str(r["error"].get("message")))
        else:
            hashes.append(str(r["result"]))
    return hashes, errors


Probe = Callable[[], None]  # called when the measured window opens and closes


@dataclass
class MaxPhase:
    submitted: list[str]
    refused: int
    first_refusal: str
    window_seconds: float
    window_committed: int
    ran_dry: bool  # the pre-signed supply ended before the window did

    @property
    def committed_tps(self) -> float:
        return self.window_committed / self.window_seconds if self.window_seconds > 0 else 0.0


async def closed_loop(urls: list[str], txs: list[str], watcher: BlockWatcher, *, warmup: float, seconds: float,
                      outstanding: int, on_open: Probe, on_close: Probe,
                      progress: Callable[[str], None] = lambda _: None) -> MaxPhase:
    """Submit as fast as the network commits for ``warmup + seconds``; the window is the last
    ``seconds``. ``on_open`` / ``on_close`` run at the window's edges (CPU and disk samples)."""
    submitted: list[str] = []
    errors: list[str] = []
    cursor = 0
    base = watcher.count
    state: dict[str, float] = {}
    t0 = time.perf_counter()
    open_at, close_at = t0 + warmup, t0 + warmup + seconds

    async def sender(url: str) -> None:
        nonlocal cursor
        async with aiohttp.ClientSession() as session:
            while time.perf_counter() < close_at and cursor < len(txs):
                if len(submitted) + len(errors) - (watcher.count - base) >= outstanding:
                    await asyncio.sleep(0.005)
                    continue
                chunk, cursor = txs[cursor : cursor + BATCH], cursor + BATCH
                hashes, refused = await send_batch(session, url, chunk)
                submitted.extend(hashes)
                errors.extend(refused)

    async def window() -> None:
        await asyncio.sleep(max(0.0, open_at - time.perf_counter()))
        on_open()
        state["open"], state["open_count"] = time.perf_counter(), watcher.count
        next_report = time.perf_counter() + 5
        while time.perf_counter() < close_at and cursor < len(txs):
            watcher.check()
            await asyncio.sleep(0.05)
            if time.perf_counter() >= next_report:
                next_report += 5
                done = watcher.count - state["open_count"]
                elapsed = time.perf_counter() - state["open"]
                progress(f"{elapsed:5.0f}/{seconds:.0f}s committed {done:,} ({done / elapsed:,.0f} tx/s)")
        on_close()
        state["close"], state["close_count"] = time.perf_counter(), watcher.count

    await asyncio.gather(window(), *(sender(u) for u in urls))
    return MaxPhase(submitted, len(errors), errors[0] if errors else "", state["close"] - state["open"],
                    int(state["close_count"] - state["open_count"]), cursor >= len(txs))


async def paced(urls: list[str], txs: list[str], rate: float, watcher: BlockWatcher, *, seconds: float,
                progress: Callable[[str], None] = lambda _: None) -> tuple[dict[str, float], int, float]:
    """Offer ``rate`` tx/s for ``seconds`` in small batches every ``TICK``, round-robin over the
    validators. Returns the submit time of each accepted hash, the refusals and the offered rate."""
    sent: dict[str, float] = {}
    refused = 0
    per_tick = max(1.0, rate * TICK)
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as session:

        async def one(url: str, chunk: list[str]) -> None:
            nonlocal refused
            start = time.perf_counter()
            hashes, errors = await send_batch(session, url, chunk)
            refused += len(errors)
            for h in hashes:
                sent[h] = start

        t0 = time.perf_counter()
        owed = 0.0
        cursor = tick = 0
        next_report = t0 + 5
        while time.perf_counter() - t0 < seconds and cursor < len(txs):
            owed += per_tick
            n = int(owed)
            owed -= n
            if n:
                task = asyncio.create_task(one(urls[tick % len(urls)], txs[cursor : cursor + n]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                cursor += n
            tick += 1
            delay = t0 + tick * TICK - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() >= next_report:
                next_report += 5
                progress(f"{time.perf_counter() - t0:5.0f}/{seconds:.0f}s offered {cursor:,} accepted {len(sent):,}")
        await asyncio.gather(*pending)
        offered = cursor / (time.perf_counter() - t0)
    return sent, refused, offered
