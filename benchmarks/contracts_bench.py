"""Business-contract throughput on four validators: authorization uses (pay-per-use) beside
evidence records and the plain system call, with fuel per call.

All four validators run as processes on this machine. Each kind of transaction is pre-signed,
submitted as fast as the nodes take it (spread over the validators) and timed from the first
submission to the block holding the last one. The network, its genesis and the contract
setup are ``node.bench_setup``'s, shared with ``consortia bench`` (which also measures CPU,
latency percentiles, memory and disk for the same kinds). An authorization use runs the catalog, which calls
the DID contract (does the caller control the requester DID?) and the points contract (debit the
user, credit the owner) in the same transaction.

    python benchmarks/contracts_bench.py --suite sm --txs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import aiohttp

from node.bench import send_batches
from node.bench_cluster import CommitWatcher, _block_number, _wait_meshed
from node.bench_setup import KINDS, Targets, make_bench_net, setup_contracts, sign_kind
from node.devnet import LocalNet
from node.sdk import RpcClient


@dataclass
class KindResult:
    kind: str
    transactions: int
    committed_tps: float
    fuel_per_call: int
    failed: int


async def _measure(net: LocalNet, kind: str, txs: list[str]) -> KindResult:
    async with aiohttp.ClientSession() as session:
        head = await _block_number(session, net.nodes[0].url)
    watcher = CommitWatcher(net.nodes[0].url, head + 1)
    watcher.start()
    await asyncio.sleep(0.3)
    chunks = [txs[i::4] for i in range(4)]
    errors: list[str] = []
    t0 = time.perf_counter()
    results = await asyncio.gather(*(send_batches(net.nodes[i].url, c, 200, errors) for i, c in enumerate(chunks)))
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused, first: {errors[0]}")
    hashes = [h for r in results for h in r]
    await watcher.wait_for(hashes, 600)
    seconds = max(watcher.committed[h] for h in hashes) - t0
    watcher.stop()
    async with RpcClient(net.nodes[0].url) as client:
        receipts = [await client.get_receipt(h) for h in hashes[:: max(1, len(hashes) // 50)]]
    failed = sum(1 for r in receipts if not r["ok"])
    fuel = sorted(int(r["fuel_used"]) for r in receipts)[len(receipts) // 2]
    return KindResult(kind, len(hashes), round(len(hashes) / seconds, 1), fuel, failed)


async def run(suite: str, txs: int) -> list[KindResult]:
    with tempfile.TemporaryDirectory(prefix="consortia-contracts-bench-") as tmp:
        net = make_bench_net(Path(tmp), suite, validators=4)
        net.start()
        try:
            await net.wait_ready(60)
            await _wait_meshed(net, [0, 1, 2, 3], 60)
            targets: Targets = await setup_contracts(net, Path(tmp))
            privates = [k.private_bytes for k in net.admins]
            results = []
            for kind in KINDS:
                signed = sign_kind(suite, net.genesis.chain_id, kind, privates, targets, 0, txs)
                results.append(await _measure(net, kind, signed))
            return results
        finally:
            net.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Authorization-use throughput beside evidence records and system calls")
    parser.add_argument("--suite", choices=["sm", "std"], default="sm")
    parser.add_argument("--txs", type=int, default=2_000, help="transactions per kind")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.suite, args.txs))
    if args.json:
        import json

        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(f"{'kind':<20} {'txs':>6} {'committed tx/s':>15} {'fuel/call':>10} {'failed':>7}   (suite {args.suite}, 4 validators)")
        for r in results:
            print(f"{r.kind:<20} {r.transactions:>6} {r.committed_tps:>15} {r.fuel_per_call:>10} {r.failed:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
