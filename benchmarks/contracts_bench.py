"""Business-contract throughput on four validators: authorization uses (pay-per-use) beside
evidence records and the plain system call, with fuel per call.

All four validators run as processes on this machine. Each kind of transaction is pre-signed,
submitted as fast as the nodes take it (spread over the validators) and timed from the first
submission to the block holding the last one. An authorization use runs the catalog, which calls
the DID contract (does the caller control the requester DID?) and the points contract (debit the
user, credit the owner) in the same transaction.

    python benchmarks/contracts_bench.py --suite sm --txs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from node.bench import send_batches
from node.bench_cluster import CommitWatcher, _block_number, _wait_meshed
from node.crypto import get_suite
from node.devnet import LocalNet, make_local_net
from node.execution.system.registry import address_of
from node.genesis import Genesis
from node.sdk import Account, RpcClient
from node.sdk.args import encode_args
from node.sdk.catalog import AccessRequest, Catalog, Dataset, Field
from node.sdk.contracts import Contract
from node.sdk.deployments import deploy_all
from node.sdk.did import Did, verification_method
from node.sdk.points import Points
from node.sdk.tx import build_transaction

SYSCONFIG = address_of("sysconfig")
USERS = 4


@dataclass
class KindResult:
    kind: str
    transactions: int
    committed_tps: float
    fuel_per_call: int
    failed: int


async def _setup(net: LocalNet, net_dir: Path) -> tuple[dict[str, bytes], list[int]]:
    """Deploy the contracts, list a priced dataset, give each user a DID, an approved authorization and points."""
    suite = get_suite(net.suite_name)
    async with RpcClient(net.nodes[0].url) as client:
        owner = await Account.connect(client, net.admins[0])
        regulator = await Account.connect(client, net.admins[1])
        done = await deploy_all(owner, net_dir, ["evidence", "did", "catalog", "points"])
        await Did(Contract(client, done["did"], owner)).create("owner", [verification_method(suite, owner.key.public_bytes)])
        catalog_owner = Catalog(Contract(client, done["catalog"], owner))
        ds = await catalog_owner.register_dataset(Dataset(owner="owner", name="bench", schema=[Field("x", "int")],
                                                          sample_hash=b"\1" * 32, category="bench", level=1,
                                                          share_mode="compute", access="https://owner.example", price=1))
        auths = []
        points = Points(Contract(client, done["points"], regulator))
        for i in range(USERS):
            user = await Account.connect(client, net.admins[2 + i])
            await Did(Contract(client, done["did"], user)).create(f"user-{i}", [verification_method(suite, user.key.public_bytes)])
            catalog = Catalog(Contract(client, done["catalog"], user))
            auth = await catalog.request_access(AccessRequest(dataset=ds, requester=f"user-{i}", purpose="bench",
                                                              quota=1_000_000, until_height=10_000_000))
            await catalog_owner.approve(auth)
            await points.mint(user.address, 10_000_000)
            auths.append(auth)
        return done, auths


def _sign(net: LocalNet, kind: str, count: int, done: dict[str, bytes], auths: list[int], expiry: int) -> list[str]:
    suite = get_suite(net.suite_name)
    out = []
    for n in range(count):
        if kind == "authorization_use":
            i = n % USERS
            key, to, method, args = net.admins[2 + i], done["catalog"], "use", {"auth": auths[i]}
        elif kind == "evidence_record":
            key, to, method, args = net.admins[2 + n % USERS], done["evidence"], "record", {"hash": secrets.token_bytes(32), "kind": "bench"}
        else:
            key, to, method, args = net.admins[0], SYSCONFIG, "set", {"key": "block_tx_limit", "value": 5_000 + n % 2}
        tx = build_transaction(suite, key, chain_id=net.genesis.chain_id, to=to, method=method, args=encode_args(args),
                               fuel_limit=5_000_000, expiry_height=expiry)
        out.append("0x" + tx.encode().hex())
    return out


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
        net = make_local_net(Path(tmp), suite, validators=4, admins=2 + USERS, verify_workers=0,
                             params={"block_tx_limit": 5_000, "min_seal_ms": 50, "block_interval_ms": 200,
                                     "consensus_timeout_ms": 5_000, "tx_expiry_window": 1_000_000})
        regulator = "0x" + get_suite(suite).address(net.admins[1].public_bytes).hex()
        for path in Path(tmp).rglob("genesis.json"):  # the second admin is the regulator who mints
            raw = json.loads(path.read_text())
            raw["roles"] = {"regulator": [regulator]}
            path.write_text(json.dumps(raw))
        net.genesis = Genesis.from_json(json.loads(next(Path(tmp).rglob("genesis.json")).read_text()))
        net.start()
        try:
            await net.wait_ready(60)
            await _wait_meshed(net, [0, 1, 2, 3], 60)
            done, auths = await _setup(net, Path(tmp))
            results = []
            for kind in ("system_call", "evidence_record", "authorization_use"):
                results.append(await _measure(net, kind, _sign(net, kind, txs, done, auths, expiry=900_000)))
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
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(f"{'kind':<20} {'txs':>6} {'committed tx/s':>15} {'fuel/call':>10} {'failed':>7}   (suite {args.suite}, 4 validators)")
        for r in results:
            print(f"{r.kind:<20} {r.transactions:>6} {r.committed_tps:>15} {r.fuel_per_call:>10} {r.failed:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
