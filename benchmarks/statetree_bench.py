"""State-tree costs: batch updates over a tree stored in LevelDB, proof size, proof checking.

Usage: python benchmarks/statetree_bench.py [--keys N] [--suite sm|std] [--json]

A tree of ``--keys`` random entries is committed through ``ChainStore`` (as genesis would), then
blocks of 1, 10, 100 and 1000 writes (four in five update existing keys, one in five add keys)
are applied on it and committed, each size several times; reported per write: the update's time
and the nodes it writes, beside the old hash-chain root (hash of the sorted write set) for the
same writes, reading nodes straight from LevelDB and through the node's cache (``CachedNodes``,
as ``Chain`` does). Then proofs for present and absent keys: their size, the time to build one from
the store and to check one (the tree part; a commit certificate adds one signature check per vote).
Last, the tree's share of a chain's block time on the ``node_bench`` workload (blocks of admin
``set`` transactions, proposed and committed in this process): the time in the tree update over
the time in ``propose`` + ``commit``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from node.crypto import get_suite
from node.statetree import EMPTY_ROOT, CachedNodes, CommittedNodes, prove, update, verify_tree_proof
from node.store.chainstore import BlockCommit, ChainStore
from node.wire import codec
from node.wire.types import Block, BlockHeader

BLOCK_SIZES = (1, 10, 100, 1000)
ROUNDS = 5


def _block(height: int, root: bytes) -> Block:
    header = BlockHeader(chain_id="bench", height=height, parent_hash=bytes(32), timestamp_ms=height, proposer=b"", view=0,
                         tx_count=0, tx_root=bytes(32), receipt_root=bytes(32), state_root=root)
    return Block(header=header, txs=())


def _old_root(hash_fn: Any, prev: bytes, writes: dict[bytes, bytes | None]) -> bytes:
    """The root before the tree: H("consortia-state" || previous root || H(sorted write set))."""
    entries = [[k, writes[k]] for k in sorted(writes)]
    return hash_fn(b"consortia-state" + prev + hash_fn(codec.encode_sorted(entries)))


def _key(rng: random.Random) -> bytes:
    return rng.randbytes(20) + b"balance/" + rng.randbytes(8)  # contract address + a contract key


def run(suite_name: str, n_keys: int) -> dict[str, Any]:
    suite = get_suite(suite_name)
    h = suite.hash
    rng = random.Random(18)
    keys = [_key(rng) for _ in range(n_keys)]
    out: dict[str, Any] = {"suite": suite_name, "keys": n_keys}
    with tempfile.TemporaryDirectory(prefix="consortia-tree-bench-") as tmp:
        store = ChainStore(Path(tmp) / "db")
        source = CommittedNodes(store.tree_node)
        start = time.perf_counter()
        first = update(h, {}, EMPTY_ROOT, {k: rng.randbytes(32) for k in keys})
        out["build_us_per_key"] = round((time.perf_counter() - start) / n_keys * 1e6, 2)
        store.commit(BlockCommit(_block(0, first.root), bytes(32), None, (), (), {}, (), first.nodes))
        root, height = first.root, 0
        cached = CachedNodes(source)
        per_size = {}
        for size in BLOCK_SIZES:
            tree_us, cached_us, old_us, nodes = [], [], [], []
            for _ in range(ROUNDS):
                writes: dict[bytes, bytes | None] = {}
                while len(writes) < size:
                    key = rng.choice(keys) if rng.random() < 0.8 else _key(rng)
                    writes[key] = rng.randbytes(32)
                t0 = time.perf_counter()
                result = update(h, source, root, writes)
                t1 = time.perf_counter()
                _old_root(h, root, writes)
                t2 = time.perf_counter()
                assert update(h, cached, root, writes).root == result.root
                t3 = time.perf_counter()
                tree_us.append((t1 - t0) / size * 1e6)
                old_us.append((t2 - t1) / size * 1e6)
                cached_us.append((t3 - t2) / size * 1e6)
                nodes.append(len(result.nodes) / size)
                height += 1
                store.commit(BlockCommit(_block(height, result.root), height.to_bytes(32, "big"), None, (), (), {}, (), result.nodes))
                cached.add(result.nodes)
                keys.extend(k for k in writes if k not in keys[-size:])
                root = result.root
            per_size[size] = {
                "tree_us_per_write": round(statistics.median(tree_us), 1),
                "tree_us_per_write_range": [round(min(tree_us), 1), round(max(tree_us), 1)],
                "cached_us_per_write": round(statistics.median(cached_us), 1),
                "old_root_us_per_write": round(statistics.median(old_us), 2),
                "nodes_per_write": round(statistics.median(nodes), 2),
            }
        out["blocks"] = per_size
        samples = rng.sample(keys, 200)
        absent = [_key(rng) for _ in range(200)]
        for label, probe in (("present", samples), ("absent", absent)):
            sizes, build_us, check_us = [], [], []
            for key in probe:
                t0 = time.perf_counter()
                value, proof = prove(h, source, root, key)
                t1 = time.perf_counter()
                raw = proof.encode()
                verify_tree_proof(h, root, key, value, raw)
                t2 = time.perf_counter()
                sizes.append(len(raw))
                build_us.append((t1 - t0) * 1e6)
                check_us.append((t2 - t1) * 1e6)
            out[f"proof_{label}"] = {
                "bytes_median": int(statistics.median(sizes)),
                "bytes_max": max(sizes),
                "build_us": round(statistics.median(build_us), 1),
                "verify_us": round(statistics.median(check_us), 1),
            }
        store.close()
    out["chain_share"] = chain_share(suite_name)
    return out


def chain_share(suite_name: str, blocks: int = 20, txs: int = 450) -> dict[str, Any]:
    """The tree's share of propose + commit on the node_bench workload, in this process."""
    from node.chain import Chain
    from node.execution import executor as executor_module
    from node.execution.system.registry import address_of
    from node.genesis import Genesis, GenesisNode
    from node.wire.types import CommitCertificate, Transaction, Vote, commit_vote_bytes

    suite = get_suite(suite_name)
    validator, admin = suite.generate_keypair(), suite.generate_keypair()
    genesis = Genesis(chain_id="bench", suite=suite_name, consensus="pbft", timestamp_ms=1,
                      nodes=(GenesisNode("v", "validator", validator.public_bytes, "127.0.0.1", 1),),
                      admins=(suite.address(admin.public_bytes),), params={"block_tx_limit": 5000})
    spent = [0.0]
    original = executor_module.update_tree

    def timed_update(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    executor_module.update_tree = timed_update
    try:
        with tempfile.TemporaryDirectory(prefix="consortia-tree-chain-") as tmp:
            store = ChainStore(Path(tmp) / "db")
            chain = Chain(genesis, store)
            total = 0.0
            for height in range(1, blocks + 1):
                for i in range(txs):
                    tx = Transaction(chain_id="bench", nonce=random.randbytes(16), expiry_height=height + 10,
                                     sender_pubkey=admin.public_bytes, to=address_of("committee"), method="propose",
                                     args=codec.encode({"type": "set_param",
                                                        "payload": {"key": "block_tx_limit", "value": 5000 + i % 2}}),
                                     fuel_limit=1_000_000)
                    signed = Transaction(**{**tx.to_map(), "signature": suite.sign(admin.private_bytes, tx.signing_bytes())})
                    chain.submit(signed.encode())
                start = time.perf_counter()
                proposal = chain.propose(height=height, view=0, proposer=validator.public_bytes, timestamp_ms=height + 1, max_txs=txs)
                vote = Vote(validator.public_bytes, suite.sign(validator.private_bytes,
                                                                commit_vote_bytes("bench", height, 0, proposal.block_hash)))
                chain.commit(proposal.block, CommitCertificate("bench", height, 0, proposal.block_hash, (vote,)))
                total += time.perf_counter() - start
            store.close()
    finally:
        executor_module.update_tree = original
    return {"blocks": blocks, "txs_per_block": txs, "block_ms": round(total / blocks * 1000, 2),
            "tree_ms": round(spent[0] / blocks * 1000, 3), "tree_share_percent": round(spent[0] / total * 100, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--suite", action="append", choices=["sm", "std"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(s, args.keys) for s in (args.suite or ["std", "sm"])]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(f"suite {r['suite']}: {r['keys']} keys, built in one batch at {r['build_us_per_key']} us/key")
        for size, b in r["blocks"].items():
            print(f"  block of {size:>4} writes: tree {b['tree_us_per_write']:>6} us/write (range {b['tree_us_per_write_range']}), "
                  f"cached {b['cached_us_per_write']} us/write, {b['nodes_per_write']} nodes/write; "
                  f"old root {b['old_root_us_per_write']} us/write")
        for label in ("present", "absent"):
            p = r[f"proof_{label}"]
            print(f"  proof ({label}): {p['bytes_median']} bytes median ({p['bytes_max']} max), "
                  f"built in {p['build_us']} us, verified in {p['verify_us']} us")
        c = r["chain_share"]
        print(f"  node_bench workload in process: {c['txs_per_block']} txs/block, {c['block_ms']} ms per block "
              f"(propose + commit), of which the tree {c['tree_ms']} ms = {c['tree_share_percent']}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
