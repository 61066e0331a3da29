"""What pipelining buys when the network, not the CPU, is the limit.

Four real PBFT validators on the deterministic simulated network (node/testing/simnet.py)
with a one-way link delay of 20-40 ms and small blocks, under a steady offered load. For each
``pbft_window`` it prints committed tx/s and p50/p99 submit-to-commit latency, all in simulated
time, so the numbers are the protocol's and do not depend on this machine's speed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from node.events import BlockCommitted
from node.testing.simnet import LinkFaults, SimNetwork


def run_window(window: int, *, seconds: float, rate: int, block_tx_limit: int, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="consortia-window-") as tmp:
        net = SimNetwork(Path(tmp), seed=seed, faults=LinkFaults(min_delay_ms=20, max_delay_ms=40),
                         params={"pbft_window": window, "block_tx_limit": block_tx_limit, "min_seal_ms": 5})
        try:
            sent: dict[bytes, int] = {}
            done: dict[bytes, int] = {}
            watched = net.nodes[0].chain
            assert watched is not None
            watched.bus.subscribe(BlockCommitted, lambda c: done.update((r.tx_hash, net.time_ms) for r in c.receipts))
            every_ms = 10
            per_tick = max(1, rate * every_ms // 1000)
            end_ms = int(seconds * 1000)

            def tick() -> None:
                if net.time_ms < end_ms:
                    # A harmless parameter (the default load rewrites block_tx_limit); each
                    # transaction is admitted on all four nodes, hence every fourth hash.
                    for h in net.submit(per_tick, param="max_code_bytes")[::4]:
                        sent.setdefault(h, net.time_ms)
                    net.schedule(every_ms, tick)

            net.schedule(every_ms, tick)
            net.run_until(lambda: net.time_ms >= end_ms and all(h in done for h in sent), end_ms + 120_000)
            latencies = sorted(done[h] - t for h, t in sent.items() if h in done)
            committed_in_window = sum(1 for h in sent if h in done and done[h] <= end_ms)
            return {
                "window": window,
                "offered_tps": rate,
                "committed_tps": round(committed_in_window / seconds, 1),
                "latency_p50_ms": latencies[len(latencies) // 2] if latencies else -1,
                "latency_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else -1,
                "max_in_flight": max(n.core.max_in_flight for n in net.nodes if n.core is not None),
            }
        finally:
            net.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated seconds of load")
    parser.add_argument("--rate", type=int, default=1_000, help="offered transactions per simulated second")
    parser.add_argument("--block-tx-limit", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [run_window(int(w), seconds=args.seconds, rate=args.rate, block_tx_limit=args.block_tx_limit, seed=args.seed)
               for w in args.windows.split(",")]
    for r in results:
        print(json.dumps(r) if args.json else " ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
