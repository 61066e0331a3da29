"""Joining a chain: snapshot sync against full replay, for the same chain and the same peers.

Usage: python benchmarks/snapshot_bench.py [--blocks N] [--records-per-block R] [--suite sm|std] [--json]

A local network of 4 validators and 2 observers is written; ``--blocks`` certified blocks are
built into the validators' homes in this process (``node.devnet.prebuild_chain``): block 1 deploys
the evidence contract, every later block records ``--records-per-block`` evidence entries, so the
state grows with the chain (each record writes several keys). The validators start on that chain;
then one observer joins with ``[sync] mode = "snapshot"`` and, after it is stopped, the other with
full replay (one at a time, so they do not share the CPU). Reported for each: seconds from process start until it reaches the prebuilt head (the
figure an operator sees, start-up included), and for the snapshot the fetch itself from its log
(nodes, bytes, seconds). The defaults take about two minutes on the shared 2-core machine, most of it building the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.chain import Chain
from node.config import NodeConfig
from node.crypto import get_suite
from node.devnet import LocalNode, make_local_net, prebuild_chain
from node.wire import codec
from node.wire.types import Transaction

EVIDENCE_WASM = Path(__file__).resolve().parents[1] / "contracts_wasm" / "dist" / "evidence.wasm"


async def _height(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}) as r:
            return int((await r.json())["result"])
    except (aiohttp.ClientError, KeyError, ValueError):
        return -1


async def _join(node: LocalNode, target: int, timeout: float = 300.0) -> float:
    """Start ``node``; seconds until it reaches ``target``."""
    t0 = time.perf_counter()
    node.start()
    async with aiohttp.ClientSession() as session:
        while await _height(session, node.url) < target:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{node.name} did not reach {target} in {timeout:.0f}s: {node.log_tail()}")
            await asyncio.sleep(0.05)
    seconds = time.perf_counter() - t0
    node.stop()
    return seconds


def run(blocks: int, records: int, suite_name: str) -> dict[str, Any]:
    suite = get_suite(suite_name)
    with tempfile.TemporaryDirectory(prefix="consortia-snapshot-bench-") as tmp:
        net = make_local_net(Path(tmp), suite_name, validators=4, observers=2,
                             params={"block_interval_ms": 1_000, "tx_expiry_window": 1_000_000, "block_tx_limit": 5_000})
        admin = net.admins[0]
        evidence: list[bytes] = []

        def tx(chain: Chain, to: bytes, method: str, args: dict[str, Any], fuel: int = 5_000_000) -> bytes:
            t = Transaction(chain_id=chain.chain_id, nonce=secrets.token_bytes(16), expiry_height=chain.height + 1_000,
                            sender_pubkey=admin.public_bytes, to=to, method=method, args=codec.encode(args), fuel_limit=fuel)
            return Transaction(**{**t.to_map(), "signature": suite.sign(admin.private_bytes, t.signing_bytes())}).encode()

        def block_txs(chain: Chain) -> list[bytes]:
            if chain.height == 0:
                return [tx(chain, b"", "deploy", {"code": EVIDENCE_WASM.read_bytes()}, fuel=100_000_000)]
            if not evidence:
                receipt = chain.store.receipts_at(1)[0]
                evidence.append(codec.decode(receipt.return_value)["address"])
            return [tx(chain, evidence[0], "record", {"hash": secrets.token_bytes(32), "kind": "data_input",
                                                      "task_id": f"task-{i % 50}"}) for i in range(records)]

        t0 = time.perf_counter()
        head = prebuild_chain(net, blocks, block_txs)
        build_s = time.perf_counter() - t0
        snap, full = net.nodes[4], net.nodes[5]
        cfg = NodeConfig.load(snap.home)
        cfg.sync.mode = "snapshot"
        cfg.save(snap.home)
        validators = net.nodes[:4]
        for n in validators:
            n.start()
        try:
            async def both() -> tuple[float, float]:
                for n in validators:
                    await n.wait_ready(60)
                return await _join(snap, head), await _join(full, head)

            snapshot_s, full_s = asyncio.run(both())
        finally:
            net.stop()
        log = snap.log_path.read_text()
        done = re.search(r"event=snapshot_done height=(\d+) nodes_fetched=(\d+) bytes=(\d+) keys=(\d+) seconds=([\d.]+)", log)
        if done is None:
            raise RuntimeError(f"the snapshot observer did not log snapshot_done: {snap.log_tail()}")
        return {
            "suite": suite_name, "blocks": head, "records_per_block": records, "build_s": round(build_s, 1),
            "snapshot_height": int(done[1]), "snapshot_nodes": int(done[2]), "snapshot_bytes": int(done[3]),
            "state_keys": int(done[4]), "snapshot_fetch_s": float(done[5]),
            "snapshot_join_s": round(snapshot_s, 1), "full_replay_join_s": round(full_s, 1),
            "speedup": round(full_s / snapshot_s, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1_000)
    parser.add_argument("--records-per-block", type=int, default=5)
    parser.add_argument("--suite", choices=("std", "sm"), default="std")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = run(args.blocks, args.records_per_block, args.suite)
    if args.json:
        print(json.dumps(r))
        return
    print(f"snapshot suite={r['suite']} blocks={r['blocks']} state_keys={r['state_keys']} (built in {r['build_s']}s)")
    print(f"  snapshot sync: joined in {r['snapshot_join_s']}s (fetch {r['snapshot_fetch_s']}s, {r['snapshot_nodes']} nodes, "
          f"{r['snapshot_bytes']} bytes, at height {r['snapshot_height']})")
    print(f"  full replay:   joined in {r['full_replay_join_s']}s")
    print(f"  speedup:       {r['speedup']}x")


if __name__ == "__main__":
    main()
