"""Four-validator burst benchmark (PBFT or Raft): throughput, latency at half load, catch-up speed.

Superseded for throughput, CPU, latency and memory by ``node.bench_sustained`` (``consortia bench``,
``benchmarks/cluster_bench.py``); kept for the catch-up measurement and the helpers others import.

All four validators run as real processes on this machine, so they share its cores: every
transaction is verified and executed four times. Reported per suite:

- ``max_tps``: pre-signed transactions submitted as fast as the nodes accept them (spread over
  all validators), committed tx/s from the first submission to the block holding the last one;
- ``latency_p50_ms`` / ``latency_p99_ms``: submit-to-commit latency when transactions are offered
  at half that rate;
- ``catchup_blocks_per_min``: a validator stopped for the whole run restarts and fetches,
  verifies and re-executes the blocks it missed.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from node.bench import presign, send_batches
from node.bench_setup import pin_committee
from node.devnet import LocalNet, make_local_net
from node.execution.system.registry import address_of


@dataclass
class ClusterResult:
    suite: str
    consensus: str
    validators: int
    max_tps: float
    max_tps_txs: int
    half_load_tps: float
    latency_p50_ms: float
    latency_p99_ms: float
    catchup_blocks: int
    catchup_blocks_per_min: float
    view_changes: int  # during the throughput and latency runs, all validators: a stall shows here
    max_in_flight: int


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> object:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as r:
        reply = await r.json()
    if "error" in reply:
        raise RuntimeError(reply["error"]["message"])
    return reply["result"]


def _as_int(value: object, what: str) -> int:
    """A JSON integer from a node's reply; a benchmark must not measure a malformed answer."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise RuntimeError(f"{what}: expected an integer, got {value!r}")
    return value


async def _block_number(session: aiohttp.ClientSession, url: str) -> int:
    return _as_int(await _rpc(session, url, "chain_blockNumber"), "chain_blockNumber")


async def _peer_count(session: aiohttp.ClientSession, url: str) -> int:
    peers = await _rpc(session, url, "node_peers")
    if not isinstance(peers, list):
        raise RuntimeError(f"node_peers: expected a list, got {peers!r}")
    return len(peers)


class CommitWatcher:
    """Follows blocks over WebSocket and records when each transaction hash was committed."""

    def __init__(self, url: str, from_height: int) -> None:
        self.url = url
        self.from_height = from_height
        self.committed: dict[str, float] = {}
        self.height = from_height - 1
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.url.replace("http://", "ws://") + "/ws", max_msg_size=0) as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe",
                                    "params": {"topic": "blocks", "from_height": self.from_height}})
                async for msg in ws:
                    data = json.loads(msg.data)
                    if data.get("method") != "sub_notify":
                        continue
                    now = time.perf_counter()
                    result = data["params"]["result"]
                    self.height = result["height"]
                    for h in result["txs"]:
                        self.committed[h] = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def wait_for(self, hashes: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(h not in self.committed for h in hashes):
            if time.perf_counter() > deadline:
                missing = sum(1 for h in hashes if h not in self.committed)
                raise RuntimeError(f"{missing} transactions not committed within {timeout:.0f}s")
            await asyncio.sleep(0.05)


async def _max_throughput(net: LocalNet, live: list[int], txs: list[str], watcher: CommitWatcher) -> tuple[float, int]:
    chunks = [txs[i :: len(live)] for i in range(len(live))]
    t0 = time.perf_counter()
    errors: list[str] = []
    results = await asyncio.gather(*(send_batches(net.nodes[i].url, c, 200, errors) for i, c in zip(live, chunks)))
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused, first: {errors[0]}")
    hashes = [h for r in results for h in r]
    await watcher.wait_for(hashes, 600)
    t_end = max(watcher.committed[h] for h in hashes)
    return len(hashes) / (t_end - t0), len(hashes)


async def _latency(net: LocalNet, live: list[int], txs: list[str], rate: float, watcher: CommitWatcher) -> tuple[float, float, float]:
    sent: dict[str, float] = {}
    interval = 1.0 / rate
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int, raw: str) -> None:
            start = time.perf_counter()
            h = await _rpc(session, net.nodes[live[i % len(live)]].url, "tx_send", raw)
            sent[str(h)] = start

        for i, raw in enumerate(txs):
            target = t0 + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, raw))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        offered = len(txs) / (time.perf_counter() - t0)
    await watcher.wait_for(list(sent), 300)
    lat = sorted((watcher.committed[h] - s) * 1000 for h, s in sent.items())
    return offered, lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


async def _wait_meshed(net: LocalNet, live: list[int], timeout: float) -> None:
    """Start the load only once every validator links to every other: a link still connecting
    would otherwise be measured as a slow cluster."""
    deadline = time.perf_counter() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            counts = [await _peer_count(session, net.nodes[i].url) for i in live]
            if min(counts) >= len(live) - 1:
                return
            if time.perf_counter() > deadline:
                raise RuntimeError(f"validators did not all connect within {timeout:.0f}s (peers: {counts})")
            await asyncio.sleep(0.1)


async def _engine_status(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        info = await _rpc(session, url, "node_info")
    assert isinstance(info, dict)
    engine = info.get("engine", {})
    return engine if isinstance(engine, dict) else {}


async def _catchup(net: LocalNet, laggard: int, blocks: int = 1_500) -> tuple[int, float]:
    """Stop one validator, let the others make ``blocks`` quick blocks, restart it and time its catch-up."""
    from node.sdk import Account, RpcClient
    from node.sdk.governance import param_proposal

    committee = address_of("committee")
    async with aiohttp.ClientSession() as session:
        start_height = await _block_number(session, net.nodes[laggard].url)
        net.nodes[laggard].kill9()
        async with RpcClient(net.nodes[0].url) as client:
            admin = await Account.connect(client, net.admins[0])
            await admin.send(committee, "propose", param_proposal("block_interval_ms", 10))
            while await client.block_number() < start_height + blocks:
                await asyncio.sleep(0.2)
            await admin.send(committee, "propose", param_proposal("block_interval_ms", 1000))
            target = await client.block_number()
        net.nodes[laggard].start()
        t0 = time.perf_counter()
        await net.nodes[laggard].wait_ready(60)
        while await _block_number(session, net.nodes[laggard].url) < target:
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - t0
    return target - start_height, (target - start_height) / seconds * 60


async def run_cluster(suite: str, txs: int = 8_000, consensus: str = "pbft", verify_workers: int = 0) -> ClusterResult:
    with tempfile.TemporaryDirectory(prefix="consortia-cluster-") as tmp:
        net = make_local_net(
            Path(tmp), suite, validators=4, admins=8, participation_rate=0, win_rate=1, consensus=consensus, verify_workers=verify_workers,
            params={"block_tx_limit": 5_000, "min_seal_ms": 50, "block_interval_ms": 200, "consensus_timeout_ms": 5_000,
                    "tx_expiry_window": 1_000_000},
        )
        pin_committee(net)  # else the proposals stay open: see node.bench_setup.pin_committee
        signed = presign(suite, net.genesis.chain_id, [k.private_bytes for k in net.admins], txs + txs // 2, expiry=900_000)
        net.start()
        try:
            await net.wait_ready(60)
            live = [0, 1, 2, 3]
            await _wait_meshed(net, live, 60)
            async with aiohttp.ClientSession() as session:
                head = await _block_number(session, net.nodes[0].url)
            watcher = CommitWatcher(net.nodes[0].url, head + 1)
            watcher.start()
            await asyncio.sleep(0.3)
            max_tps, n = await _max_throughput(net, live, signed[:txs], watcher)
            offered, p50, p99 = await _latency(net, live, signed[txs:], max_tps / 2, watcher)
            watcher.stop()
            engines = [await _engine_status(net.nodes[i].url) for i in live]
            blocks, per_min = await _catchup(net, laggard=3)
            return ClusterResult(
                suite=suite, consensus=consensus, validators=4, max_tps=round(max_tps, 1), max_tps_txs=n, half_load_tps=round(offered, 1),
                latency_p50_ms=round(p50, 1), latency_p99_ms=round(p99, 1), catchup_blocks=blocks,
                catchup_blocks_per_min=round(per_min, 0),
                view_changes=sum(_as_int(e.get("view_changes", 0), "view_changes") for e in engines),
                max_in_flight=max(_as_int(e.get("max_in_flight", 1), "max_in_flight") for e in engines),
            )
        finally:
            net.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Consortia 4-validator PBFT benchmark")
    parser.add_argument("--suite", choices=["sm", "std", "both"], default="both")
    parser.add_argument("--txs", type=int, default=8_000)
    parser.add_argument("--consensus", choices=["pbft", "raft"], default="pbft")
    parser.add_argument("--verify-workers", type=int, default=0,
                        help="signature-verification processes per node (default 0: the four nodes already share this "
                             "machine's cores; -1 = one per extra core, the node default for one node per machine)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    suites = ["sm", "std"] if args.suite == "both" else [args.suite]
    results = [asdict(asyncio.run(run_cluster(s, args.txs, args.consensus, args.verify_workers))) for s in suites]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(" ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
