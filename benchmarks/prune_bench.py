"""What pruning old state-tree versions costs per block: archival against ``state_history_blocks``.

Usage: python benchmarks/prune_bench.py [--blocks N] [--records R] [--history H] [--rounds K] [--json]

One validator's chain in this process (no network): block 1 deploys the evidence contract, each
later block records ``--records`` evidence entries (each writes several keys, so a block creates
thousands of tree nodes and replaces thousands). The same run is made archival and with
``--history`` blocks of history, alternating, ``--rounds`` times each; reported per block, as
medians: propose + commit, ``ChainStore.commit``, and inside it the pruning bookkeeping itself
(``ChainStore._prune``: the records of replaced nodes, the lookups for nodes that come back, the
deletions), with the tree nodes created and replaced.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.chain import Chain
from node.crypto import get_suite
from node.genesis import Genesis, GenesisNode
from node.store.chainstore import BlockCommit, ChainStore
from node.wire import codec
from node.wire.types import CommitCertificate, Transaction, Vote, commit_vote_bytes

EVIDENCE_WASM = Path(__file__).resolve().parents[1] / "contracts_wasm" / "dist" / "evidence.wasm"


def _run(history: int, blocks: int, records: int, suite_name: str) -> dict[str, float]:
    suite = get_suite(suite_name)
    validator, admin = suite.generate_keypair(), suite.generate_keypair()
    genesis = Genesis(chain_id="bench", suite=suite_name, consensus="pbft", timestamp_ms=1_700_000_000_000,
                      nodes=(GenesisNode("v", "validator", validator.public_bytes, "127.0.0.1", 1),),
                      admins=(suite.address(admin.public_bytes),), params={"block_tx_limit": 50_000, "tx_expiry_window": 100_000})
    prune_s: list[float] = []
    commit_s: list[float] = []
    seal_s: list[float] = []
    created: list[int] = []
    replaced: list[int] = []

    def tx(chain: Chain, to: bytes, method: str, args: dict[str, Any], fuel: int = 5_000_000) -> bytes:
        t = Transaction(chain_id="bench", nonce=secrets.token_bytes(16), expiry_height=chain.height + 1_000,
                        sender_pubkey=admin.public_bytes, to=to, method=method, args=codec.encode(args), fuel_limit=fuel)
        return Transaction(**{**t.to_map(), "signature": suite.sign(admin.private_bytes, t.signing_bytes())}).encode()

    def seal(chain: Chain) -> None:
        head = chain.head()
        p = chain.propose(height=head.height + 1, view=0, proposer=validator.public_bytes, timestamp_ms=head.timestamp_ms + 1,
                          max_txs=50_000)
        vote = Vote(validator.public_bytes, suite.sign(validator.private_bytes, commit_vote_bytes("bench", head.height + 1, 0, p.block_hash)))
        chain.commit(p.block, CommitCertificate("bench", head.height + 1, 0, p.block_hash, (vote,)))

    with tempfile.TemporaryDirectory(prefix="consortia-prune-bench-") as tmp:
        store = ChainStore(Path(tmp) / "data", state_history=history)
        original_prune: Callable[..., None] = store._prune

        def timed_prune(wb: Any, c: BlockCommit) -> None:
            t0 = time.perf_counter()
            original_prune(wb, c)
            prune_s.append(time.perf_counter() - t0)

        original_commit = store.commit

        def timed_commit(c: BlockCommit) -> None:
            t0 = time.perf_counter()
            original_commit(c)
            commit_s.append(time.perf_counter() - t0)
            created.append(len(c.tree_nodes))
            replaced.append(len(c.tree_replaced))

        store._prune = timed_prune  # type: ignore[method-assign]
        chain = Chain(genesis, store, wasm_cache_dir=Path(tmp) / "wasm")
        chain.submit(tx(chain, b"", "deploy", {"code": EVIDENCE_WASM.read_bytes()}, fuel=100_000_000))
        seal(chain)
        address = codec.decode(chain.store.receipts_at(1)[0].return_value)["address"]
        store.commit = timed_commit  # type: ignore[method-assign]
        for _ in range(blocks):
            for i in range(records):
                chain.submit(tx(chain, address, "record", {"hash": secrets.token_bytes(32), "kind": "data_input",
                                                           "task_id": f"task-{i % 50}"}))
            t0 = time.perf_counter()
            seal(chain)
            seal_s.append(time.perf_counter() - t0)
        store.close()
    med = statistics.median
    return {"propose_commit_ms": med(seal_s) * 1e3, "store_commit_ms": med(commit_s) * 1e3,
            "prune_ms": med(prune_s) * 1e3 if prune_s else 0.0, "created_nodes": med(created), "replaced_nodes": med(replaced)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--history", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--suite", choices=("std", "sm"), default="std")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"archival": [], "pruning": []}
    for _ in range(args.rounds):
        results["archival"].append(_run(0, args.blocks, args.records, args.suite))
        results["pruning"].append(_run(args.history, args.blocks, args.records, args.suite))
    if args.json:
        print(json.dumps(results))
        return
    for name, runs in results.items():
        for r in runs:
            print(f"{name:>8}: propose+commit {r['propose_commit_ms']:.0f} ms/block, store.commit {r['store_commit_ms']:.1f} ms, "
                  f"pruning bookkeeping {r['prune_ms']:.1f} ms; nodes created {r['created_nodes']:.0f}, "
                  f"replaced {r['replaced_nodes']:.0f}")


if __name__ == "__main__":
    main()
