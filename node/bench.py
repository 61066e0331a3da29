"""Single-validator throughput: pre-signed transactions over JSON-RPC to committed blocks.

The transactions are signed before the clock starts (in a process pool), then submitted in
JSON-RPC batches over several connections; a WebSocket block subscription counts committed
transactions. Reported: committed tx/s from the first submission to the block holding the last
transaction, the submission rate alone, and the mean block size.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from node.bench_setup import pin_committee
from node.crypto import get_suite
from node.devnet import make_local_net
from node.execution.system.registry import address_of
from node.wire import codec
from node.wire.types import Transaction

COMMITTEE = address_of("committee")  # the plain system call: a set_param proposal any one admin passes


@dataclass
class ThroughputResult:
    suite: str
    transactions: int
    seconds: float
    committed_tps: float
    submit_tps: float
    blocks: int
    mean_block_txs: float
    failed_receipts: int


def _sign_chunk(suite_name: str, chain_id: str, private: bytes, values: list[int], expiry: int) -> list[str]:
    suite = get_suite(suite_name)
    key = suite.keypair_from_private(private)
    out = []
    for value in values:
        tx = Transaction(
            chain_id=chain_id,
            nonce=secrets.token_bytes(16),
            expiry_height=expiry,
            sender_pubkey=key.public_bytes,
            to=COMMITTEE,
            method="propose",
            args=codec.encode({"type": "set_param", "payload": {"key": "block_tx_limit", "value": 5_000 + value % 2}}),
            fuel_limit=1_000_000,
        )
        signed = Transaction(**{**tx.to_map(), "signature": suite.sign(private, tx.signing_bytes())})
        out.append("0x" + signed.encode().hex())
    return out


def presign(suite_name: str, chain_id: str, admins: list[bytes], count: int, expiry: int) -> list[str]:
    """``count`` signed admin transactions spread over the admin keys, signed on every core."""
    per = (count + len(admins) - 1) // len(admins)
    jobs = []
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for a, private in enumerate(admins):
            values = [1000 + a * per + i for i in range(per)]
            for start in range(0, per, 500):
                jobs.append(pool.submit(_sign_chunk, suite_name, chain_id, private, values[start : start + 500], expiry))
        raw = [tx for job in jobs for tx in job.result()]
    # Interleave senders as many independent clients would.
    return raw[:count]


async def send_batches(url: str, txs: list[str], batch: int, errors: list[str]) -> list[str]:
    """Send raw transactions as JSON-RPC batches of ``tx_send``; returns the accepted hashes and
    appends each refusal's message to ``errors``."""
    hashes: list[str] = []
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(txs), batch):
            body = [
                {"jsonrpc": "2.0", "id": i, "method": "tx_send", "params": [raw]}
                for i, raw in enumerate(txs[start : start + batch])
            ]
            async with session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
                replies = await resp.json()
            for r in replies:
                if "error" in r:
                    errors.append(r["error"]["message"])
                else:
                    hashes.append(r["result"])
    return hashes


async def _count_commits(url: str, from_height: int, target: int, done: asyncio.Future[tuple[float, int, int]]) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws"
    seen = blocks = failed = 0
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "sub_subscribe", "params": {"topic": "blocks", "from_height": from_height}})
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("method") != "sub_notify":
                    continue
                n = data["params"]["result"]["header"]["tx_count"]
                if n:
                    blocks += 1
                    seen += n
                if seen >= target:
                    done.set_result((time.perf_counter(), blocks, failed))
                    return


async def run_throughput(suite_name: str, count: int = 20_000, connections: int = 4, batch: int = 250) -> ThroughputResult:
    with tempfile.TemporaryDirectory(prefix="consortia-bench-") as tmp:
        net = make_local_net(
            Path(tmp),
            suite_name,
            admins=8,
            participation_rate=0,  # any one admin passes a proposal: each transaction executes its own
            win_rate=1,
            params={"block_tx_limit": 5_000, "min_seal_ms": 50, "block_interval_ms": 1000, "tx_expiry_window": 1_000_000},
        )
        pin_committee(net)  # else the proposals stay open: see node.bench_setup.pin_committee
        node = net.nodes[0]
        txs = presign(suite_name, net.genesis.chain_id, [k.private_bytes for k in net.admins], count, expiry=900_000)
        node.start()
        try:
            await node.wait_ready()
            async with aiohttp.ClientSession() as session:
                async with session.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}) as r:
                    head = (await r.json())["result"]
            done: asyncio.Future[tuple[float, int, int]] = asyncio.get_running_loop().create_future()
            counter = asyncio.create_task(_count_commits(node.url, head + 1, count, done))
            await asyncio.sleep(0.2)
            errors: list[str] = []
            chunks = [txs[i::connections] for i in range(connections)]
            t0 = time.perf_counter()
            await asyncio.gather(*(send_batches(node.url, c, batch, errors) for c in chunks))
            t_submit = time.perf_counter() - t0
            if errors:
                counter.cancel()
                raise RuntimeError(f"{len(errors)} submissions rejected, first: {errors[0]}")
            t_end, blocks, failed = await asyncio.wait_for(done, timeout=600)
            seconds = t_end - t0
            return ThroughputResult(
                suite=suite_name,
                transactions=count,
                seconds=round(seconds, 3),
                committed_tps=round(count / seconds, 1),
                submit_tps=round(count / t_submit, 1),
                blocks=blocks,
                mean_block_txs=round(count / max(blocks, 1), 1),
                failed_receipts=failed,
            )
        finally:
            node.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Consortia single-validator throughput benchmark")
    parser.add_argument("--suite", choices=["sm", "std", "both"], default="both")
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    suites = ["sm", "std"] if args.suite == "both" else [args.suite]
    results = [asdict(asyncio.run(run_throughput(s, args.txs, args.connections, args.batch))) for s in suites]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(
                f"suite={r['suite']} txs={r['transactions']} committed_tps={r['committed_tps']} "
                f"submit_tps={r['submit_tps']} seconds={r['seconds']} blocks={r['blocks']} mean_block_txs={r['mean_block_txs']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
