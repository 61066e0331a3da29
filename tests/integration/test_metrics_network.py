"""/metrics of four PBFT validators (real processes on loopback) under load: the series move.

One validator is stopped while the others take a load of signed transactions (some re-sent,
so they are refused as duplicates), plus RPC reads and a call to a missing method; it is then
restarted and catches up. Scrapes before and after show every counter named in
docs/metrics.md increase and every histogram get observations, on the nodes where they should.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from node.bench import presign, send_batches
from node.devnet import LocalNet, make_local_net
from tests.scrape import Scrape, scrape

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TXS = 600
PARAMS = {"block_tx_limit": 2_000, "min_seal_ms": 20, "block_interval_ms": 200, "consensus_timeout_ms": 1_500,
          "tx_expiry_window": 1_000_000}


async def _until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _scrape_all(session: aiohttp.ClientSession, net: LocalNet, indexes: list[int]) -> dict[int, Scrape]:
    return {i: await scrape(session, net.nodes[i].url) for i in indexes}


async def test_series_move_under_load(tmp_path):
    net = make_local_net(tmp_path, "std", validators=4, observers=1, admins=2, participation_rate=0, win_rate=1, params=PARAMS)
    signed = presign("std", net.genesis.chain_id, [k.private_bytes for k in net.admins], TXS, expiry=900_000)
    live, laggard = [0, 1, 2], 3
    net.start()
    try:
        await net.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            async def meshed() -> bool:
                got = await _scrape_all(session, net, [0, 1, 2, 3])
                return all(s.value("consortia_p2p_peers") == 4 for s in got.values())

            await _until(meshed, 30, "four linked validators")
            net.nodes[laggard].stop()
            before = await _scrape_all(session, net, live)
            errors: list[str] = []
            accepted = []
            for k, i in enumerate(live):  # each live node gets a third of the load
                accepted += await send_batches(net.nodes[i].url, signed[k::3], 100, errors)
            assert errors == [] and len(accepted) == TXS
            assert await send_batches(net.nodes[0].url, signed[:5], 5, errors) == []  # refused: already known
            body = [{"jsonrpc": "2.0", "id": 1, "method": "no_such_method"}, {"jsonrpc": "2.0", "id": 2, "method": "chain_blockNumber"}]
            async with session.post(net.nodes[1].url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
                await resp.read()

            async def committed() -> bool:
                got = await _scrape_all(session, net, live)
                return all(s.total("consortia_txs_committed_total") >= TXS for s in got.values())

            await _until(committed, 40, f"{TXS} committed transactions on every live validator")
            after = await _scrape_all(session, net, live)
            net.nodes[laggard].start()
            await net.nodes[laggard].wait_ready(30)
            head = int(after[0].value("consortia_block_height") or 0)

            async def caught_up() -> bool:  # (a batch is counted once all of it is applied)
                got = await scrape(session, net.nodes[laggard].url)
                return (got.value("consortia_block_height") or 0) >= head and got.total("consortia_sync_blocks_total") > 0

            await _until(caught_up, 40, "the restarted validator to catch up")
            late = await scrape(session, net.nodes[laggard].url)
            observer = await scrape(session, net.nodes[4].url)
    finally:
        net.stop()

    def grew(i: int, name: str, **labels: str) -> float:
        return after[i].total(name, **labels) - before[i].total(name, **labels)

    names = {n.name for n in net.nodes}
    observer_name = net.nodes[4].name
    for i in live:
        me = net.nodes[i].name
        assert (after[i].value("consortia_block_height") or 0) > (before[i].value("consortia_block_height") or 0)
        assert grew(i, "consortia_blocks_committed_total") > 0
        assert grew(i, "consortia_txs_committed_total") == TXS
        assert grew(i, "consortia_txpool_admitted_total") > 0
        assert grew(i, "consortia_rpc_calls_total", method="tx_send") > 0
        assert grew(i, "consortia_rpc_request_duration_seconds_count", method="tx_send") > 0
        for histogram in ("consortia_tx_commit_latency_seconds", "consortia_consensus_round_seconds",
                          "consortia_block_execution_seconds", "consortia_block_store_seconds"):
            assert grew(i, histogram + "_count") > 0, (me, histogram)
            assert grew(i, histogram + "_sum") > 0, (me, histogram)
        peers = {labels for (name, labels) in after[i].samples if name == "consortia_p2p_sent_bytes_total"}
        assert {dict(labels)["peer"] for labels in peers} == names - {me}
        for other in sorted(names - {me}):
            assert grew(i, "consortia_p2p_sent_bytes_total", peer=other) >= 0
        for other in sorted(names - {me, net.nodes[laggard].name, observer_name}):
            assert grew(i, "consortia_p2p_sent_bytes_total", peer=other) > 0, (me, other)
            assert grew(i, "consortia_p2p_received_messages_total", peer=other) > 0, (me, other)
        assert after[i].value("consortia_p2p_peers") == 3  # the stopped one is gone
        assert after[i].value("consortia_consensus_view") is not None
        assert after[i].value("consortia_consensus_heights_in_flight") is not None
        assert grew(i, "process_cpu_seconds_total") > 0 and (after[i].value("process_resident_memory_bytes") or 0) > 0
    assert grew(0, "consortia_txpool_rejected_by_reason_total", reason="duplicate_transaction", source="client") == 5
    assert grew(0, "consortia_txpool_rejected_total") >= 5
    assert grew(1, "consortia_rpc_errors_total", code="-32601") == 1
    assert late.total("consortia_sync_blocks_total") > 0
    assert (late.value("consortia_sync_target_height") or 0) >= head
    # The observer follows by catch-up only: no view, synced blocks and commits counted.
    assert "consortia_consensus_view" not in observer.names
    assert observer.total("consortia_sync_blocks_total") > 0 and observer.total("consortia_txs_committed_total") == TXS
