"""WebSocket subscriptions that replay history from a height and then stream live, gap-free.

Each subscription owns a cursor (the next height to deliver) and a task that sends every block
from the store while the cursor is at or below the head, then sleeps until the next commit. Since
history and live blocks come from the same store in height order, there is no hand-over window in
which a block could be missed or sent twice; a client that reconnects with ``last_height + 1``
resumes exactly where it left off.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from node.chainview import ChainReader
from node.errors import InvalidParams, RequestTooLarge
from node.events import BlockCommitted, EventBus
from node.rpc.jsonfmt import block_json, hx, parse_hex
from node.rpc.params import int_param

log = logging.getLogger("consortia.rpc")

TOPICS = ("blocks", "events")
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BlockNotifier:
    """Wakes every waiting subscription when a block commits."""

    def __init__(self, bus: EventBus, reader: ChainReader) -> None:
        self.reader = reader
        self._event = asyncio.Event()
        self._unsubscribe = bus.subscribe(BlockCommitted, self._on_commit)

    def _on_commit(self, committed: BlockCommitted) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for_height(self, height: int) -> None:
        while self.reader.height < height:
            await self._event.wait()

    def close(self) -> None:
        self._unsubscribe()


@dataclass(frozen=True)
class EventFilter:
    contract: bytes | None
    name: str | None

    @classmethod
    def parse(cls, raw: Any) -> EventFilter:
        if raw is None:
            return cls(None, None)
        if not isinstance(raw, dict) or set(raw) - {"contract", "name"}:
            raise InvalidParams("'filter' must be an object with optional 'contract' and 'name'")
        contract = parse_hex(raw["contract"], "filter.contract", size=20) if raw.get("contract") is not None else None
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidParams("'filter.name' must be a string")
        return cls(contract, name)

    def matches(self, contract: bytes, name: str) -> bool:
        return (self.contract is None or self.contract == contract) and (self.name is None or self.name == name)


class SubscriptionSession:
    """The subscriptions of one WebSocket connection."""

    _ids = itertools.count(1)

    def __init__(self, reader: ChainReader, notifier: BlockNotifier, send: Send, max_subscriptions: int) -> None:
        self.reader = reader
        self.notifier = notifier
        self.send = send
        self.max_subscriptions = max_subscriptions
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def subscribe(self, topic: Any, from_height: Any = None, filter: Any = None) -> str:
        """Start a subscription; ``from_height`` None means the next block."""
        if topic not in TOPICS:
            raise InvalidParams(f"'topic' must be one of {', '.join(TOPICS)}")
        from_height = self.reader.height + 1 if from_height is None else int_param(from_height, "from_height")
        flt = EventFilter.parse(filter)
        if topic == "blocks" and (flt.contract or flt.name):
            raise InvalidParams("the blocks topic takes no filter")
        if len(self._tasks) >= self.max_subscriptions:
            raise RequestTooLarge(f"at most {self.max_subscriptions} subscriptions per connection")
        sub_id = f"0x{next(self._ids):x}"
        self._tasks[sub_id] = asyncio.create_task(self._stream(sub_id, topic, from_height, flt), name=f"sub-{sub_id}")
        return sub_id

    def unsubscribe(self, sub_id: Any) -> bool:
        if not isinstance(sub_id, str):
            raise InvalidParams("subscription id must be a string")
        task = self._tasks.pop(sub_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def _stream(self, sub_id: str, topic: str, height: int, flt: EventFilter) -> None:
        reader = self.reader
        try:
            while True:
                await self.notifier.wait_for_height(height)
                stored = reader.block(height)
                if stored is None:
                    await asyncio.sleep(0.05)
                    continue
                if topic == "blocks":
                    result = block_json(stored.block, stored.block_hash, reader.suite, stored.certificate, full=False)
                    await self._notify(sub_id, topic, height, result)
                else:
                    events = [
                        {
                            "tx_hash": hx(ev.tx_hash),
                            "tx_index": ev.tx_index,
                            "event_index": ev.event_index,
                            "contract": hx(ev.contract),
                            "name": ev.name,
                            "data": hx(ev.data),
                        }
                        for ev in reader.events_at(height)
                        if flt.matches(ev.contract, ev.name)
                    ]
                    if events:
                        await self._notify(sub_id, topic, height,
                                           {"height": height, "block_hash": hx(stored.block_hash), "events": events})
                height += 1
                if height % 64 == 0:
                    await asyncio.sleep(0)  # let other connections run during long replays
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            return
        except Exception:
            log.exception("event=subscription_failed id=%s", sub_id)

    async def _notify(self, sub_id: str, topic: str, height: int, result: dict[str, Any]) -> None:
        await self.send(
            {"jsonrpc": "2.0", "method": "sub_notify", "params": {"subscription": sub_id, "topic": topic, "height": height, "result": result}}
        )
