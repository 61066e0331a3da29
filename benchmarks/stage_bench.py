"""CPU per transaction per stage, in one process: admission, propose + commit, validate + commit.

One chain plays the primary (admits the transactions, proposes and commits blocks of
``--block`` of them), a second plays a follower (admits the same transactions as if forwarded,
re-executes and commits the primary's blocks). ``time.process_time`` around each stage, per
transaction. No network, no other node on the cores: the figures to compare before and after a
change to decoding, execution, the state tree or the store (docs/performance.md, "The third
round of cuts").

    python benchmarks/stage_bench.py --kind system_call --txs 6000 --block 200 [--suite std]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import msgpack

from node.chain import Chain
from node.store.chainstore import ChainStore
from node.wire.types import STATUS_OK
from tests.conftest import set_param
from tests.unit.test_chain import seal
from tests.unit.test_vm import DEPLOY_FUEL, EVIDENCE, deploying_testnet

STAGES = ("admit_primary", "propose_commit_primary", "admit_follower", "validate_follower", "commit_follower")


def run(kind: str, total: int, per_block: int, suite: str) -> dict[str, float]:
    net = deploying_testnet(suite, params={"block_tx_limit": 5000, "tx_expiry_window": 1_000_000})
    home = Path(tempfile.mkdtemp(prefix="consortia-stages-"))
    primary = Chain(net.genesis, ChainStore(home / "primary"), wasm_cache_dir=home / "cache-p")
    follower = Chain(net.genesis, ChainStore(home / "follower"), wasm_cache_dir=home / "cache-f")

    def both(block) -> None:
        follower.validate(block)
        follower.commit(block, primary.store.get_certificate(block.header.height))

    deploy = net.tx(net.user, to=b"", method="deploy", args={"code": EVIDENCE.read_bytes()}, fuel_limit=DEPLOY_FUEL,
                    expiry_height=100).encode()
    primary.submit(deploy)
    follower.submit(deploy, forward=False)
    both(seal(primary, net.validator))
    receipt = primary.store.receipts_at(1)[-1]
    assert receipt.status == STATUS_OK, receipt.error
    evidence = msgpack.unpackb(receipt.return_value)["address"]

    def make(n: int) -> bytes:
        if kind == "evidence_record":
            tx = net.tx(net.user, to=evidence, method="record", args={"hash": secrets.token_bytes(32), "kind": "bench"},
                        expiry_height=900_000)
        else:
            tx = net.tx(net.admin, **set_param("block_tx_limit", 5000 + n % 2), expiry_height=900_000)
        return tx.encode()

    raws = [make(n) for n in range(total)]
    spent = dict.fromkeys(STAGES, 0.0)
    clock = time.process_time
    for start in range(0, total, per_block):
        chunk = raws[start : start + per_block]
        t = clock()
        for raw in chunk:
            primary.submit(raw)
        spent["admit_primary"] += clock() - t
        t = clock()
        block = seal(primary, net.validator)
        spent["propose_commit_primary"] += clock() - t
        t = clock()
        for raw in chunk:
            follower.submit(raw, forward=False)
        spent["admit_follower"] += clock() - t
        t = clock()
        follower.validate(block)
        spent["validate_follower"] += clock() - t
        t = clock()
        follower.commit(block, primary.store.get_certificate(block.header.height))
        spent["commit_follower"] += clock() - t
        assert len(block.txs) == len(chunk)
    failed = [r.error for r in primary.store.receipts_at(primary.height) if r.status != STATUS_OK]
    assert not failed, failed[0]
    figures = {stage: round(seconds / total * 1e6, 1) for stage, seconds in spent.items()}
    figures["follower_total"] = round(figures["admit_follower"] + figures["validate_follower"] + figures["commit_follower"], 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU µs per transaction per stage, one process, no network")
    parser.add_argument("--kind", choices=["system_call", "evidence_record"], default="system_call")
    parser.add_argument("--txs", type=int, default=6000)
    parser.add_argument("--block", type=int, default=200, help="transactions per block")
    parser.add_argument("--suite", choices=["std", "sm"], default="std")
    args = parser.parse_args(argv)
    figures = run(args.kind, args.txs, args.block, args.suite)
    print(json.dumps({"kind": args.kind, "suite": args.suite, "txs": args.txs, "block": args.block, "cpu_us_per_tx": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
