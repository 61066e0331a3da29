"""Memory over a long steady run: each validator's resident memory, minute by minute, until a
million transactions have committed (or a time limit).

    python benchmarks/memory_soak.py [--suite std] [--rate 400] [--target 1000000] [--minutes 60]
                                     [--kind evidence_record] [--json FILE]

A 4-validator network on this machine (``consortia bench``'s genesis and transaction kinds),
offered ``--rate`` transactions per second in one-minute windows. After every window it prints
the committed total, the height, each validator's current RSS (``VmRSS``) and its data
directory size, its LevelDB figures from /metrics (level-0 and all table files, compaction
seconds and MiB written, seconds in block writes, process CPU seconds), and at the end the growth per 100,000 transactions after the first window (the
warm-up fills caches whose size is fixed). What it shows is whether memory stays bounded as the
chain grows: the pool drains, caches are bounded, nothing keeps per-transaction state forever.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from node.bench_cluster import _block_number, _wait_meshed
from node.bench_load import BlockWatcher, paced
from node.bench_setup import Targets, TxSupply, make_bench_net, parse_param_overrides, setup_contracts
from node.benchproc import dir_bytes, load_average, status_bytes
from node.config import DATA_DIR


async def store_figures(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """From one node's /metrics: level-0 table files, all table files, and LevelDB's compaction
    seconds and written MiB since the node started (summed over levels), the block store
    histogram's sum (seconds spent in synchronous block writes) and the process's CPU seconds.
    Compaction runs in LevelDB's own thread: a node falling behind as its database grows shows
    here as compaction seconds rising faster than the transactions."""
    async with session.get(url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        text = await resp.text()
    got = {"l0_files": 0.0, "files": 0.0, "compaction_s": 0.0, "compaction_written_mb": 0.0, "store_write_s": 0.0,
           "cpu_s": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "consortia_store_level_files":
                got["files"] += sample.value
                if sample.labels.get("level") == "0":
                    got["l0_files"] = sample.value
            elif sample.name == "consortia_store_compaction_seconds_total":
                got["compaction_s"] += sample.value
            elif sample.name == "consortia_store_compaction_written_bytes_total":
                got["compaction_written_mb"] += sample.value / 2**20
            elif sample.name == "consortia_block_store_seconds_sum":
                got["store_write_s"] = round(sample.value, 1)
            elif sample.name == "process_cpu_seconds_total":
                got["cpu_s"] = round(sample.value, 1)
    return got


RSS_PARTS = ("VmRSS", "RssAnon", "RssFile")  # all resident memory; the heap; pages of mapped files (LevelDB's tables)


async def soak(args: argparse.Namespace) -> dict[str, object]:
    samples: list[dict[str, object]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="consortia-soak-") as tmp:
        net = make_bench_net(Path(tmp), args.suite, validators=4, params=args.params)
        net.start()
        try:
            await net.wait_ready(120)
            await _wait_meshed(net, list(range(4)), 120)
            targets = await setup_contracts(net, Path(tmp)) if args.kind != "system_call" else Targets()
            async with aiohttp.ClientSession() as session:
                head = await _block_number(session, net.nodes[0].url)
            watcher = BlockWatcher(net.nodes[0].url, head + 1)
            watcher.start()
            supply = TxSupply(net, targets)
            urls = [n.url for n in net.nodes]
            minute = 0
            while watcher.count < args.target and time.monotonic() - started < args.minutes * 60:
                minute += 1
                want = int(args.rate * 60 * 1.05) + 10
                await asyncio.to_thread(supply.ensure, args.kind, want)
                await paced(urls, supply.take(args.kind, want), args.rate, watcher, seconds=60)
                async with aiohttp.ClientSession() as session:
                    height = await _block_number(session, net.nodes[0].url)
                    stores = [await store_figures(session, n.url) for n in net.nodes]
                memory = [status_bytes(n.proc.pid, RSS_PARTS) for n in net.nodes if n.proc is not None]
                row: dict[str, object] = {
                    "minute": minute, "elapsed_s": round(time.monotonic() - started), "committed": watcher.count,
                    "height": height, "load_average": load_average()[0],
                    "rss_mb": [round(m["VmRSS"] / 2**20, 1) for m in memory],
                    "rss_anon_mb": [round(m["RssAnon"] / 2**20, 1) for m in memory],
                    "rss_file_mb": [round(m["RssFile"] / 2**20, 1) for m in memory],
                    "data_mb": [round(dir_bytes(n.home / DATA_DIR) / 2**20, 1) for n in net.nodes],
                    **{f"store_{name}": [s[name] for s in stores] for name in stores[0]},
                }
                samples.append(row)
                print(json.dumps(row), flush=True)
            watcher.stop()
        finally:
            net.stop()
    first, last = samples[0], samples[-1]
    grown = int(last["committed"]) - int(first["committed"])  # type: ignore[call-overload]

    def growth(series: str) -> list[float]:
        return [round((b - a) / grown * 100_000, 1) if grown else 0.0
                for a, b in zip(first[series], last[series])]  # type: ignore[call-overload]

    return {"suite": args.suite, "kind": args.kind, "rate": args.rate, "params": args.params, "samples": samples,
            "rss_growth_mb_per_100k_tx_after_first_minute": growth("rss_mb"),
            "rss_anon_growth_mb_per_100k_tx_after_first_minute": growth("rss_anon_mb")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="std", choices=("std", "sm"))
    parser.add_argument("--kind", default="evidence_record", choices=("system_call", "evidence_record", "authorization_use"))
    parser.add_argument("--rate", type=float, default=400.0, help="offered transactions per second")
    parser.add_argument("--target", type=int, default=1_000_000, help="stop once this many have committed")
    parser.add_argument("--minutes", type=float, default=60.0, help="stop after this long in any case")
    parser.add_argument("--json", type=Path, help="also write every sample and the summary here")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a chain parameter for the benchmark genesis (repeatable)")
    args = parser.parse_args(argv)
    try:
        args.params = parse_param_overrides(args.param)
    except ValueError as exc:
        parser.error(str(exc))
    result = asyncio.run(soak(args))
    print("rss growth MB per 100k tx after the first minute:", result["rss_growth_mb_per_100k_tx_after_first_minute"])
    print("  of which the heap (RssAnon):", result["rss_anon_growth_mb_per_100k_tx_after_first_minute"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
