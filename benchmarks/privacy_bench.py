"""Privacy protocol benchmark: X25519 ceiling, ECDH-PSI, anonymous lookup, secure sum, vertical LR.

Usage: python benchmarks/privacy_bench.py [--parts psi,lookup,sum,vlr] [--psi-size N] [--json] ...
Defaults are the full sizes of the issue (1M x 1M PSI, a 1M-entry lookup list, 1M values summed by
three parties); they take minutes on two cores. Pass smaller sizes for a quick look. All parties
run in this one process, one thread each (plus a two-thread pool per PSI party), over the
in-memory channel, so the figures are computation, not network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np
from nacl.bindings import crypto_scalarmult

from workers.protocols import fixedpoint, lookup, paillier, psi, stats
from workers.protocols import vertical_lr as vlr
from workers.protocols.channel import MemoryHub, Session, run_parties


class MeteredPool(ThreadPoolExecutor):
    """A thread pool that adds up the CPU time its tasks use (per-party cost in a shared process) and
    the wall time they run: ``busy / (workers * wall)`` is the share of the run the pool had work,
    which other processes' load does not change (a preempted task still counts as running)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.workers = workers
        self.cpu = 0.0
        self.busy = 0.0
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[no-untyped-def, override]
        def metered() -> Any:
            start, start_wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.cpu += time.thread_time() - start
                    self.busy += time.perf_counter() - start_wall
        return super().submit(metered)


def x25519_ceiling(count: int, threads: int = 2) -> dict[str, Any]:
    """X25519 multiplications per second on ``threads`` threads (PyNaCl releases the GIL)."""
    key = os.urandom(32)
    point = crypto_scalarmult(os.urandom(32), (9).to_bytes(32, "little"))

    def work(n: int) -> float:
        start_cpu = time.thread_time()
        for _ in range(n):
            crypto_scalarmult(key, point)
        return time.thread_time() - start_cpu

    start = time.perf_counter()
    work(count // 4)
    one = (count // 4) / (time.perf_counter() - start)
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        cpu = sum(pool.map(work, [count // threads] * threads))
        both = count / (time.perf_counter() - start)
    return {"per_second_one_thread": round(one), "per_second_all_threads": round(both), "threads": threads,
            "cpu_us_per_mult": round(1e6 * cpu / count, 2)}


def bench_psi(n: int, batch: int, ceiling: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    common = n // 2
    xs = [b"c%011d" % i for i in range(n)]
    ys = [b"c%011d" % i for i in range(n - common, 2 * n - common)]
    hub = MemoryHub()
    cfg = psi.PsiConfig(batch=batch, threads=threads)
    pools = {"client": MeteredPool(threads), "server": MeteredPool(threads)}
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def role(name: str, fn: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.thread_time()
        out = fn(Session(hub.transport(name), "bench-psi", 600.0), pools[name])
        wall[name], cpu[name] = time.perf_counter() - start, time.thread_time() - start_cpu
        return out

    start = time.perf_counter()
    out = run_parties({
        "client": lambda: role("client", lambda s, p: psi.run_client(s, "server", xs, cfg, executor=p)),
        "server": lambda: role("server", lambda s, p: psi.run_server(s, "client", ys, cfg, executor=p)),
    })
    seconds = time.perf_counter() - start
    for p in pools.values():
        p.shutdown()
    assert len(out["client"]) == common, "PSI returned a wrong intersection"
    ceiling_s = 4 * n / ceiling["per_second_all_threads"]
    cpu_total = cpu["client"] + pools["client"].cpu + cpu["server"] + pools["server"].cpu
    return {
        "items_each": n, "intersection": common, "threads_per_party": threads, "seconds": round(seconds, 2),
        "ceiling_seconds_4n_mults": round(ceiling_s, 2), "ratio_to_ceiling": round(seconds / ceiling_s, 3),
        "client_cpu_seconds": round(cpu["client"] + pools["client"].cpu, 2),
        "server_cpu_seconds": round(cpu["server"] + pools["server"].cpu, 2),
        "client_wall_seconds": round(wall["client"], 2), "server_wall_seconds": round(wall["server"], 2),
        "client_pool_busy": round(pools["client"].busy / (threads * seconds), 3),
        "server_pool_busy": round(pools["server"].busy / (threads * seconds), 3),
        "cpu_us_per_mult": round(1e6 * cpu_total / (4 * n), 2), "main_thread_cpu_seconds": round(cpu["client"] + cpu["server"], 2),
        "cpu_ratio_to_ceiling": round(cpu_total / (4 * n) / (ceiling["cpu_us_per_mult"] / 1e6), 3),
    }


def _against(result: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, Any]:
    """Recompute the PSI's ratios against a (possibly averaged) ceiling."""
    n = result["items_each"]
    ceiling_s = 4 * n / ceiling["per_second_all_threads"]
    return {**result, "ceiling_seconds_4n_mults": round(ceiling_s, 2),
            "ratio_to_ceiling": round(result["seconds"] / ceiling_s, 3),
            "cpu_ratio_to_ceiling": round(result["cpu_us_per_mult"] / ceiling["cpu_us_per_mult"], 3)}


def bench_lookup(n: int, queries: int) -> dict[str, Any]:
    holder = lookup.LookupHolder({b"acct-%010d" % i: b"flag" for i in range(n)})
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        holder.precompute(pool)
    precompute = time.perf_counter() - start
    hub = MemoryHub()
    hs = Session(hub.transport("holder"), "bench-lookup", 600.0)
    timing: dict[str, float] = {}

    def querier() -> int:
        q = lookup.LookupQuerier(Session(hub.transport("querier"), "bench-lookup", 600.0), "holder")
        start = time.perf_counter()
        q.receive_table()
        timing["table"] = time.perf_counter() - start
        hits = 0
        start = time.perf_counter()
        for i in range(queries):
            key = b"acct-%010d" % (i * 7919 % (2 * n))
            hits += q.query([key])[key].found
        timing["queries"] = time.perf_counter() - start
        q.close()
        return hits

    out = run_parties({"holder": lambda: (holder.send_table(hs, "querier"), holder.serve(hs, "querier")),
                       "querier": querier})
    expected = sum(1 for i in range(queries) if i * 7919 % (2 * n) < n)
    assert out["querier"] == expected, "lookup answered wrongly"
    return {"list_size": n, "precompute_seconds": round(precompute, 2), "precompute_per_second": round(n / precompute),
            "table_transfer_seconds": round(timing["table"], 2), "queries": queries,
            "ms_per_query": round(1000 * timing["queries"] / queries, 3)}


def bench_sum(n: int) -> dict[str, Any]:
    parties = ["p1", "p2", "p3"]
    rng = np.random.default_rng(1)
    values = {p: rng.normal(100.0, 15.0, size=n) for p in parties}
    hub = MemoryHub()
    start = time.perf_counter()
    enc = {p: fixedpoint.encode(v, 20, 3) for p, v in values.items()}
    out = run_parties({p: (lambda p=p: stats.secure_sum(Session(hub.transport(p), "bench-sum", 600.0), parties, "p1", enc[p]))
                       for p in parties})
    total = fixedpoint.decode(out["p1"], 20)
    seconds = time.perf_counter() - start
    err = float(np.max(np.abs(total - sum(values.values()))))
    rows = {p: v[: n // 3] for p, v in values.items()}
    hub = MemoryHub()
    spec = stats.StatsSpec(integer=False, frac_bits=24)
    start = time.perf_counter()
    res = run_parties({p: (lambda p=p: stats.run(Session(hub.transport(p), "bench-stats", 600.0), parties, "p1", rows[p], None, spec))
                       for p in parties})
    stat_seconds = time.perf_counter() - start
    allv = np.concatenate(list(rows.values()))
    assert abs(res["p1"]["*"].mean - allv.mean()) < 1e-6
    return {"vector_length": n, "parties": 3, "seconds": round(seconds, 3), "max_abs_error": err,
            "stats_rows_total": int(allv.size), "stats_seconds": round(stat_seconds, 3)}


def bench_vlr(rows: int, features: int, key_bits: int, max_iter: int, learning_rate: float) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features))
    w = rng.normal(size=features)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ w - 0.5)))).astype(float)
    label_cols = max(1, features // 3)
    cfg = vlr.VlrConfig(key_bits=key_bits, min_key_bits=key_bits, max_iter=max_iter, tol=1e-4,
                        learning_rate=learning_rate)
    start = time.perf_counter()
    key = paillier.generate(key_bits)
    pool = paillier.NoisePool(key.public)
    table_seconds = time.perf_counter() - start
    rates = paillier_rates(key, pool)
    start = time.perf_counter()
    pool.fill(rows * max_iter)
    offline = time.perf_counter() - start
    hub = MemoryHub()
    start = time.perf_counter()
    out = run_parties({
        "bank": lambda: vlr.run_label_holder(Session(hub.transport("bank"), "bench-vlr", 600.0), ["telecom"], y,
                                             x[:, :label_cols], cfg, key=key, pool=pool),
        "telecom": lambda: vlr.run_feature_holder(Session(hub.transport("telecom"), "bench-vlr", 600.0), "bank",
                                                  x[:, label_cols:], cfg),
    })
    seconds = time.perf_counter() - start
    res = out["bank"]
    result: dict[str, Any] = {
        "rows": rows, "features": features, "label_holder_features": label_cols, "key_bits": key_bits,
        "key_and_table_seconds": round(table_seconds, 2), "pool_fill_seconds": round(offline, 2),
        "noise_values": rows * max_iter, **rates,
        "learning_rate": learning_rate, "iterations": res.iterations, "converged": res.converged, "seconds_to_convergence": round(seconds, 2),
        "seconds_per_iteration": round(seconds / max(res.iterations, 1), 3),
    }
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        result["auc"] = round(float(roc_auc_score(y, res.probabilities)), 4)
        central = LogisticRegression().fit(x, y)
        result["auc_centralised_sklearn"] = round(float(roc_auc_score(y, central.predict_proba(x)[:, 1])), 4)
    except ImportError:
        result["auc"] = None
    return result


def paillier_rates(key: paillier.PrivateKey, pool: paillier.NoisePool, count: int = 40) -> dict[str, float]:
    """Per-second rates on one core: textbook r^n, pooled-noise (DJN) generation, online encryption, decryption, addition."""
    pk = key.public
    textbook = paillier.NoisePool(pk, textbook=True)
    out: dict[str, float] = {}
    for name, fn in (("textbook_noise_per_s", textbook.fresh), ("djn_noise_per_s", pool.fresh)):
        start = time.perf_counter()
        noise = [fn() for _ in range(count)]
        out[name] = round(count / (time.perf_counter() - start), 1)
    start = time.perf_counter()
    cts = [pk.encrypt_with(i, r) for i, r in enumerate(noise * 25)]
    out["online_encrypt_per_s"] = round(len(cts) / (time.perf_counter() - start))
    start = time.perf_counter()
    for c in cts[:count]:
        key.decrypt(c)
    out["decrypt_per_s"] = round(count / (time.perf_counter() - start), 1)
    start = time.perf_counter()
    for a, b in zip(cts, cts[1:]):
        pk.add(a, b)
    out["add_per_s"] = round((len(cts) - 1) / (time.perf_counter() - start))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="psi,lookup,sum,vlr", help="comma-separated: psi, lookup, sum, vlr")
    parser.add_argument("--psi-size", type=int, default=1_000_000, help="items on each side of the PSI")
    parser.add_argument("--psi-batch", type=int, default=8192, help="points per PSI message")
    parser.add_argument("--psi-threads", type=int, default=1,
                        help="compute threads per PSI party (both parties run at once, so 1 each fills 2 cores)")
    parser.add_argument("--ceiling-mults", type=int, default=200_000, help="X25519 multiplications for the ceiling")
    parser.add_argument("--lookup-size", type=int, default=1_000_000, help="entries in the lookup holder's list")
    parser.add_argument("--lookup-queries", type=int, default=200, help="single-key queries to time")
    parser.add_argument("--sum-size", type=int, default=1_000_000, help="values per party in the secure sum")
    parser.add_argument("--vlr-rows", type=int, default=1000, help="aligned rows for vertical LR")
    parser.add_argument("--vlr-features", type=int, default=10, help="features in total (a third at the label holder)")
    parser.add_argument("--vlr-key-bits", type=int, default=2048, help="Paillier modulus size")
    parser.add_argument("--vlr-max-iter", type=int, default=35, help="iteration cap (the noise pool is sized for it)")
    parser.add_argument("--vlr-learning-rate", type=float, default=3.5,
                        help="gradient step (features are standardised, so steps up to about 6 are stable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    unknown = parts - {"psi", "lookup", "sum", "vlr"}
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}")
    for name in ("psi_size", "lookup_size", "sum_size", "vlr_rows", "lookup_queries", "ceiling_mults"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if "psi" in parts:
        before = x25519_ceiling(args.ceiling_mults)
        report["psi"] = bench_psi(args.psi_size, args.psi_batch, before, args.psi_threads)
        after = x25519_ceiling(args.ceiling_mults)
        # the machine's load drifts: compare with the mean of the ceilings measured before and after
        ceiling = {k: round((before[k] + after[k]) / 2, 2) for k in ("per_second_one_thread", "per_second_all_threads",
                                                                      "cpu_us_per_mult")}
        report["x25519_ceiling"] = {**ceiling, "threads": 2, "before": before, "after": after}
        report["psi"] = _against(report["psi"], ceiling)
    if "lookup" in parts:
        report["lookup"] = bench_lookup(args.lookup_size, args.lookup_queries)
    if "sum" in parts:
        report["secure_sum"] = bench_sum(args.sum_size)
    if "vlr" in parts:
        report["vertical_lr"] = bench_vlr(args.vlr_rows, args.vlr_features, args.vlr_key_bits, args.vlr_max_iter,
                                         args.vlr_learning_rate)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            if isinstance(value, dict):
                print(f"{name} " + " ".join(f"{k}={v}" for k, v in value.items()))
            else:
                print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
