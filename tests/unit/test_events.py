"""The event bus keeps its promises: order, isolation of failing subscribers, bounded queues."""

from __future__ import annotations

import asyncio

from node.events import BlockCommitted, EventBus, PeerConnected, SyncProgress, TxAdmitted


def test_subscribers_see_events_of_their_type_in_publish_order():
    bus = EventBus()
    seen: list[tuple[str, object]] = []
    bus.subscribe(SyncProgress, lambda e: seen.append(("a", e.height)))
    bus.subscribe(SyncProgress, lambda e: seen.append(("b", e.height)))
    bus.subscribe(PeerConnected, lambda e: seen.append(("peer", e.pubkey)))
    for h in (1, 2):
        bus.publish(SyncProgress(1, h, 5))
    bus.publish(TxAdmitted(b"h", b"raw", True))  # nobody listens: nothing happens
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_an_event_published_during_delivery_waits_for_the_current_one():
    """Without this, the second subscriber would hear of height 2 before height 1."""
    bus = EventBus()
    seen: list[tuple[str, int]] = []

    def first(e: SyncProgress) -> None:
        seen.append(("first", e.height))
        if e.height == 1:
            bus.publish(SyncProgress(1, 2, 2))

    bus.subscribe(SyncProgress, first)
    bus.subscribe(SyncProgress, lambda e: seen.append(("second", e.height)))
    bus.publish(SyncProgress(1, 1, 2))
    assert seen == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_a_failing_subscriber_does_not_stop_the_others_or_the_publisher():
    bus = EventBus()
    seen: list[int] = []

    def broken(e: SyncProgress) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(SyncProgress, broken)
    bus.subscribe(SyncProgress, lambda e: seen.append(e.height))
    bus.publish(SyncProgress(1, 7, 7))
    bus.publish(SyncProgress(1, 8, 8))
    assert seen == [7, 8] and bus.handler_errors == 2


def test_unsubscribe_stops_delivery():
    bus = EventBus()
    seen: list[int] = []
    unsubscribe = bus.subscribe(SyncProgress, lambda e: seen.append(e.height))
    bus.publish(SyncProgress(1, 1, 1))
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.publish(SyncProgress(1, 2, 2))
    assert seen == [1] and bus.subscriber_count(SyncProgress) == 0


async def test_a_slow_queue_reader_never_blocks_the_publisher():
    """A queue that fills drops the newest events and counts them; publishing goes on at once."""
    bus = EventBus()
    queue, close = bus.queue(SyncProgress, maxsize=3)
    for h in range(10):
        bus.publish(SyncProgress(1, h, 10))
    assert len(queue) == 3 and queue.dropped == 7
    assert [(await queue.get()).height for _ in range(3)] == [0, 1, 2]
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    bus.publish(SyncProgress(1, 11, 11))
    assert (await asyncio.wait_for(waiter, 1)).height == 11
    close()
    bus.publish(SyncProgress(1, 12, 12))
    assert queue.get_nowait() is None and queue.closed


def test_the_chain_publishes_commits_and_admissions(chain, testnet):
    from tests.unit.test_chain import seal

    admitted: list[TxAdmitted] = []
    committed: list[BlockCommitted] = []
    chain.bus.subscribe(TxAdmitted, admitted.append)
    chain.bus.subscribe(BlockCommitted, committed.append)
    raw = testnet.tx(testnet.user).encode()
    tx_hash = chain.submit(raw)
    chain.submit(testnet.tx(testnet.user).encode(), forward=False)
    assert [(e.tx_hash, e.raw, e.local) for e in admitted[:1]] == [(tx_hash, raw, True)]
    assert admitted[1].local is False
    seal(chain, testnet.validator)
    assert len(committed) == 1 and committed[0].block.height == 1
    assert {r.tx_hash for r in committed[0].receipts} == {e.tx_hash for e in admitted}


def test_the_engine_hears_admissions_connections_and_catch_up_through_the_bus():
    from typing import Any

    from consensus.api import ConsensusEngine
    from node.consensus_engine import connect_engine

    class Recorder(ConsensusEngine):
        name = "recorder"

        def __init__(self) -> None:
            self.calls: list[str] = []

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        def status(self) -> dict[str, Any]:
            return {}

        def on_network_message(self, data: bytes) -> None:
            self.calls.append("message")

        def on_transactions(self) -> None:
            self.calls.append("transactions")

        def on_peer_connected(self) -> None:
            self.calls.append("peer")

        def on_synced(self) -> None:
            self.calls.append("synced")

    bus = EventBus()
    engine = Recorder()
    disconnect = connect_engine(bus, engine)
    bus.publish(TxAdmitted(b"h", b"raw", False))
    bus.publish(PeerConnected(b"k", "validator"))
    bus.publish(SyncProgress(3, 10, 10))
    assert engine.calls == ["transactions", "peer", "synced"]
    disconnect()
    bus.publish(TxAdmitted(b"h", b"raw", True))
    assert engine.calls == ["transactions", "peer", "synced"]
