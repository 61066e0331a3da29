"""Privacy protocol benchmark: X25519 ceiling, ECDH-PSI, anonymous lookup, secure sum, vertical LR.

Run it as ``consortia bench privacy`` or ``python benchmarks/privacy_bench.py`` (same options, defined
in ``node/cli/benchprivacy.py``; docs/privacy-protocols.md explains every figure). Defaults are the
full sizes of the issue (1M x 1M PSI, a 1M-entry lookup list, 1M values summed by three parties);
they take minutes on two cores. All parties run in this one process, one thread each (plus a pool
per PSI party), over the in-memory channel, so the figures are computation, not network.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from nacl.bindings import crypto_scalarmult

from workers.pipetransport import PipeTransport
from workers.protocols import curve25519, fixedpoint, lookup, paillier, psi, stats
from workers.protocols import vertical_lr as vlr
from workers.protocols.channel import MemoryHub, Session, run_parties

PARTS = ("psi", "lookup", "sum", "vlr")


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

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
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
    """X25519 multiplications per second on ``threads`` threads (libsodium releases the GIL).

    Calls libsodium the way the PSI does (``curve25519.mul_many``, no per-call wrapper), so the PSI's
    ratio to this ceiling counts only what the protocol adds to the multiplications themselves.
    """
    key = os.urandom(32)
    point = crypto_scalarmult(os.urandom(32), (9).to_bytes(32, "little"))

    def work(n: int) -> float:
        start_cpu = time.thread_time()
        for start in range(0, n, 256):
            curve25519.mul_many(key, [point] * min(256, n - start))
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


def _psi_party(role: str, n: int, batch: int, threads: int, conn: Any, results: Any) -> None:
    """One PSI party in its own process (``bench_psi_processes``): its items, its pool, its pipe."""
    common = n // 2
    items = ([b"c%011d" % i for i in range(n)] if role == "client"
             else [b"c%011d" % i for i in range(n - common, 2 * n - common)])
    peer = "server" if role == "client" else "client"
    transport = PipeTransport(conn, role, peer)
    cfg = psi.PsiConfig(batch=batch, threads=threads)
    pool = MeteredPool(threads)
    start, start_cpu = time.perf_counter(), time.process_time()
    run = psi.run_client if role == "client" else psi.run_server
    out = run(Session(transport, "bench-psi", 600.0), peer, items, cfg, executor=pool)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    pool.shutdown()
    transport.close()
    found = len(out) if role == "client" and out is not None else -1
    results.put((role, {"wall": wall, "cpu": cpu, "busy": pool.busy, "found": found}))


def bench_psi_processes(n: int, batch: int, ceiling: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """The PSI with each party in its own process, joined by a pipe, as two institutions run it
    (in one process the parties' Python work would share one interpreter lock)."""
    ctx = multiprocessing.get_context("fork")
    client_end, server_end = ctx.Pipe(duplex=True)
    results = ctx.Queue()
    procs = [ctx.Process(target=_psi_party, args=(role, n, batch, threads, end, results), name=f"psi-{role}")
             for role, end in (("client", client_end), ("server", server_end))]
    start = time.perf_counter()
    for p in procs:
        p.start()
    got = dict(results.get(timeout=3600) for _ in procs)
    seconds = time.perf_counter() - start
    for p in procs:
        p.join(60)
    common = n // 2
    assert got["client"]["found"] == common, "PSI returned a wrong intersection"
    ceiling_s = 4 * n / ceiling["per_second_all_threads"]
    cpu_total = got["client"]["cpu"] + got["server"]["cpu"]
    return {
        "items_each": n, "intersection": common, "threads_per_party": threads, "processes": 2, "seconds": round(seconds, 2),
        "ceiling_seconds_4n_mults": round(ceiling_s, 2), "ratio_to_ceiling": round(seconds / ceiling_s, 3),
        "client_cpu_seconds": round(got["client"]["cpu"], 2), "server_cpu_seconds": round(got["server"]["cpu"], 2),
        "client_wall_seconds": round(got["client"]["wall"], 2), "server_wall_seconds": round(got["server"]["wall"], 2),
        "client_pool_busy": round(got["client"]["busy"] / (threads * seconds), 3),
        "server_pool_busy": round(got["server"]["busy"] / (threads * seconds), 3),
        "cpu_us_per_mult": round(1e6 * cpu_total / (4 * n), 2),
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

    def serve() -> None:
        holder.send_table(hs, "querier")
        holder.serve(hs, "querier")

    out = run_parties({"holder": serve, "querier": querier})
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
    def summer(p: str) -> Callable[[], Any]:
        return lambda: stats.secure_sum(Session(hub.transport(p), "bench-sum", 600.0), parties, "p1", enc[p])

    out = run_parties({p: summer(p) for p in parties})
    total = fixedpoint.decode(out["p1"], 20)
    seconds = time.perf_counter() - start
    err = float(np.max(np.abs(total - sum(values.values()))))
    rows = {p: v[: n // 3] for p, v in values.items()}
    hub = MemoryHub()
    spec = stats.StatsSpec(integer=False, frac_bits=24)
    start = time.perf_counter()
    def counter(p: str) -> Callable[[], Any]:
        return lambda: stats.run(Session(hub.transport(p), "bench-stats", 600.0), parties, "p1", rows[p], None, spec)

    res = run_parties({p: counter(p) for p in parties})
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


@dataclass(frozen=True)
class Settings:
    """What to measure and at which sizes (the options of ``consortia bench privacy``)."""

    parts: frozenset[str] = frozenset(PARTS)
    psi_size: int = 1_000_000
    psi_batch: int = 8192
    psi_threads: int = 1
    psi_in_process: bool = False  # both PSI parties in this process (they then share the interpreter lock)
    ceiling_mults: int = 200_000
    lookup_size: int = 1_000_000
    lookup_queries: int = 200
    sum_size: int = 1_000_000
    vlr_rows: int = 1000
    vlr_features: int = 10
    vlr_key_bits: int = 2048
    vlr_max_iter: int = 35
    vlr_learning_rate: float = 3.5


def run(settings: Settings) -> dict[str, Any]:
    """Every figure of the selected parts, with the machine's core count and load before and after."""
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if "psi" in settings.parts:
        before = x25519_ceiling(settings.ceiling_mults)
        measure = bench_psi if settings.psi_in_process else bench_psi_processes
        result = measure(settings.psi_size, settings.psi_batch, before, settings.psi_threads)
        after = x25519_ceiling(settings.ceiling_mults)
        # the machine's load drifts: compare with the mean of the ceilings measured before and after
        ceiling = {k: round((before[k] + after[k]) / 2, 2) for k in ("per_second_one_thread", "per_second_all_threads",
                                                                      "cpu_us_per_mult")}
        report["psi"] = _against(result, ceiling)
        report["x25519_ceiling"] = {**ceiling, "threads": 2, "before": before, "after": after}
    if "lookup" in settings.parts:
        report["lookup"] = bench_lookup(settings.lookup_size, settings.lookup_queries)
    if "sum" in settings.parts:
        report["secure_sum"] = bench_sum(settings.sum_size)
    if "vlr" in settings.parts:
        report["vertical_lr"] = bench_vlr(settings.vlr_rows, settings.vlr_features, settings.vlr_key_bits,
                                         settings.vlr_max_iter, settings.vlr_learning_rate)
    report["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return report


def format_text(report: dict[str, Any]) -> str:
    """One line per part: ``name key=value ...``."""
    lines = []
    for name, value in report.items():
        if isinstance(value, dict):
            lines.append(f"{name} " + " ".join(f"{k}={v}" for k, v in value.items()))
        else:
            lines.append(f"{name}={value}")
    return "\n".join(lines)
