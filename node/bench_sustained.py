"""Sustained, repeated load on real validator processes: throughput, CPU per transaction per
validator, latency percentiles at 50% and 80% of the maximum rate, peak RSS and disk growth.

For each network size and suite: measure the suite's verify rate on one core (the verification
limit of the same run is that rate x cores / validators), start the validators, then per repeat
and per transaction kind:

1. closed loop for ``warmup + seconds``; the last ``seconds`` are the measured window. Each
   node's CPU counters (its process and its verification-worker children, /proc/<pid>/stat) are
   read at the window's edges; CPU per transaction = CPU seconds / transactions committed in it;
2. open loop at 50% and at 80% of that repeat's committed rate for ``seconds`` each;
   submit-to-commit latency of every transaction, p50 / p95 / p99;
3. data-directory bytes of each node before 1. and after 2. over the transactions committed
   meanwhile; VmHWM (peak resident memory since start) of each node at the end.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from node.bench_cluster import _block_number, _wait_meshed
from node.bench_load import BATCH, BlockWatcher, closed_loop, paced
from node.bench_setup import KINDS, Targets, TxSupply, make_bench_net, setup_contracts
from node.benchproc import CpuSample, dir_bytes, peak_rss_bytes, peak_rss_children, rss_anon_bytes, sample_cpu
from node.benchstats import Summary, percentile
from node.config import DATA_DIR
from node.crypto import get_suite
from node.crypto.bench import MESSAGE_SIZE
from node.devnet import LocalNet
from node.sdk import RpcClient

LOAD_POINTS = (("half", 0.5), ("eighty", 0.8))
DRAIN_TIMEOUT = 300.0

Progress = Callable[[str], None]


@dataclass
class BenchConfig:
    seconds: float = 60.0
    repeat: int = 3
    warmup: float = 5.0
    kinds: tuple[str, ...] = KINDS
    consensus: str = "pbft"
    verify_workers: int = 0
    crypto_seconds: float = 2.0
    params: dict[str, int] = field(default_factory=dict)  # chain parameters over the benchmark genesis's


@dataclass
class Latency:
    offered_tps: float
    transactions: int
    refused: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class ValidatorFigures:
    name: str
    cpu_share: float  # CPU seconds per second of the window: 1.0 = one core busy
    cpu_us_per_tx: float  # node process + verification workers
    verify_us_per_tx: float  # workers' CPU when there are workers, else the measured cost of one verification
    other_us_per_tx: float  # everything but signature verification
    verify_source: str  # "workers" (measured) or "estimate" (1 / verify rate of one core)
    peak_rss_bytes: int  # VmHWM of the node process (its heap and the file pages it maps)
    rss_anon_bytes: int  # RssAnon at the end of the repeat: the heap alone, without LevelDB's mapped table files
    workers_peak_rss_bytes: int  # the largest VmHWM among its verification workers (0 without)
    disk_bytes_per_tx: float


@dataclass
class RepeatResult:
    kind: str
    repeat: int
    window_seconds: float
    committed: int
    committed_tps: float
    ratio_to_limit: float
    refused: int
    ran_dry: bool
    failed_receipts: int  # among a sample of receipts: a failing kind would measure reverts
    sampled_receipts: int
    half: Latency
    eighty: Latency
    validators: list[ValidatorFigures]


@dataclass
class KindResult:
    kind: str
    summary: dict[str, dict[str, float]]  # figure -> median / min / max over the repeats
    validators: list[dict[str, Any]]  # per validator: name and figure -> median / min / max
    repeats: list[RepeatResult] = field(default_factory=list)


@dataclass
class SizeResult:
    suite: str
    consensus: str
    validators: int
    cores: int
    verify_per_s_per_core: float
    verification_limit_tps: float
    verify_workers: int
    kinds: list[KindResult]


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as ``a_b`` names (booleans and strings left out)."""
    out: dict[str, float] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}_"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix + k] = float(v)
    return out


def summarise(repeats: list[RepeatResult]) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """Median / min / max of every numeric figure over the repeats, overall and per validator."""
    rows = [flatten({k: v for k, v in asdict(r).items() if k not in ("validators", "repeat")}) for r in repeats]
    summary = {name: Summary.of([row[name] for row in rows]).rounded(2) for name in rows[0]}
    per_validator = []
    for i, first in enumerate(repeats[0].validators):
        vrows = [flatten(asdict(r.validators[i])) for r in repeats]
        entry: dict[str, Any] = {"name": first.name, "verify_source": first.verify_source}
        entry.update({name: Summary.of([row[name] for row in vrows]).rounded(2) for name in vrows[0]})
        per_validator.append(entry)
    return summary, per_validator


def latency_figures(sent: dict[str, float], committed: dict[str, float], refused: int, offered: float) -> Latency:
    lat = [(committed[h] - t) * 1000 for h, t in sent.items()]
    if not lat:
        return Latency(round(offered, 1), 0, refused, 0.0, 0.0, 0.0)
    return Latency(round(offered, 1), len(lat), refused, round(percentile(lat, 50), 1), round(percentile(lat, 95), 1),
                   round(percentile(lat, 99), 1))


def validator_figures(net: LocalNet, before: list[CpuSample], after: list[CpuSample], committed: int,
                      verify_per_s: float, disk_before: list[int], disk_after: list[int], disk_txs: int) -> list[ValidatorFigures]:
    out = []
    for node, b, a, d0, d1 in zip(net.nodes, before, after, disk_before, disk_after):
        assert node.proc is not None
        used = a.minus(b)
        per_tx = 1e6 / committed if committed else 0.0
        node_us, workers_us = used.node * per_tx, used.children * per_tx
        if workers_us > 0:
            verify_us, other_us, source = workers_us, node_us, "workers"
        else:
            verify_us = 1e6 / verify_per_s if committed else 0.0
            other_us, source = max(0.0, node_us - verify_us), "estimate"
        out.append(ValidatorFigures(
            name=node.name, cpu_share=round((used.node + used.children) / used.at, 3) if used.at > 0 else 0.0,
            cpu_us_per_tx=round(node_us + workers_us, 1), verify_us_per_tx=round(verify_us, 1), other_us_per_tx=round(other_us, 1),
            verify_source=source, peak_rss_bytes=peak_rss_bytes(node.proc.pid), rss_anon_bytes=rss_anon_bytes(node.proc.pid),
            workers_peak_rss_bytes=peak_rss_children(node.proc.pid),
            disk_bytes_per_tx=round((d1 - d0) / disk_txs, 1) if disk_txs else 0.0))
    return out


async def _sample_receipts(url: str, hashes: list[str], n: int = 20) -> tuple[int, int]:
    sample = hashes[:: max(1, len(hashes) // n)][:n]
    failed = 0
    async with RpcClient(url) as client:
        for h in sample:
            receipt = await client.get_receipt(h)
            failed += receipt is None or not receipt["ok"]
    return failed, len(sample)


async def run_repeat(net: LocalNet, supply: TxSupply, watcher: BlockWatcher, kind: str, repeat: int, cfg: BenchConfig,
                     estimate_tps: float, verify_per_s: float, limit: float, progress: Progress, *,
                     measured: bool = False) -> RepeatResult:
    """One repeat of ``kind``. ``estimate_tps`` sizes the pre-signed supply; only a ``measured``
    rate (an earlier repeat's) also sets the outstanding window, since a first guess (the
    verification limit) would queue many seconds of a heavy kind and the window would see a few
    huge blocks rather than a steady stream."""
    urls = [n.url for n in net.nodes]
    pids = [n.proc.pid for n in net.nodes if n.proc is not None]
    await asyncio.to_thread(supply.ensure, kind, int(estimate_tps * (cfg.warmup + cfg.seconds) * 1.5) + BATCH * len(urls))
    data_dirs = [n.home / DATA_DIR for n in net.nodes]
    disk_before = await asyncio.to_thread(lambda: [dir_bytes(d) for d in data_dirs])
    count_before = watcher.count
    before: list[CpuSample] = []
    after: list[CpuSample] = []
    progress("max rate: warm-up")
    mx = await closed_loop(urls, supply.take(kind, supply.available(kind)), watcher, warmup=cfg.warmup, seconds=cfg.seconds,
                           outstanding=max(1_000, int(estimate_tps)) if measured else 1_000,
                           on_open=lambda: before.extend(sample_cpu(p) for p in pids),
                           on_close=lambda: after.extend(sample_cpu(p) for p in pids), progress=progress)
    if mx.ran_dry:
        progress(f"warning: pre-signed supply ran out after {mx.window_seconds:.1f}s of the window")
    await watcher.wait_for(mx.submitted, DRAIN_TIMEOUT)
    failed, sampled = await _sample_receipts(urls[0], mx.submitted)
    tps = mx.committed_tps
    progress(f"max rate: {tps:,.0f} tx/s ({tps / limit:.2f} of the limit), {failed}/{sampled} sampled receipts failed")
    latencies = {}
    for name, fraction in LOAD_POINTS:
        rate = max(1.0, tps * fraction)
        await asyncio.to_thread(supply.ensure, kind, int(rate * cfg.seconds * 1.2) + 10)
        progress(f"{fraction:.0%} load: {rate:,.0f} tx/s offered")
        sent, refused, offered = await paced(urls, supply.take(kind, int(rate * cfg.seconds * 1.2) + 10), rate, watcher,
                                             seconds=cfg.seconds, progress=progress)
        await watcher.wait_for(list(sent), DRAIN_TIMEOUT)
        latencies[name] = latency_figures(sent, watcher.committed, refused, offered)
        lat = latencies[name]
        progress(f"{fraction:.0%} load: p50 {lat.p50_ms:,.0f} ms, p95 {lat.p95_ms:,.0f} ms, p99 {lat.p99_ms:,.0f} ms")
    disk_after = await asyncio.to_thread(lambda: [dir_bytes(d) for d in data_dirs])
    figures = validator_figures(net, before, after, mx.window_committed, verify_per_s, disk_before, disk_after,
                                watcher.count - count_before)
    return RepeatResult(kind=kind, repeat=repeat, window_seconds=round(mx.window_seconds, 2), committed=mx.window_committed,
                        committed_tps=round(tps, 1), ratio_to_limit=round(tps / limit, 3), refused=mx.refused,
                        ran_dry=mx.ran_dry, failed_receipts=failed, sampled_receipts=sampled,
                        half=latencies["half"], eighty=latencies["eighty"], validators=figures)


async def run_size(suite: str, validators: int, cfg: BenchConfig, cores: int, progress: Progress) -> SizeResult:
    """Every repeat of every kind on one network of ``validators`` nodes."""
    progress(f"{suite}: measuring verify/s on one core for {cfg.crypto_seconds:g}s")
    verify_per_s = verify_rate_per_cpu_second(suite, cfg.crypto_seconds)
    limit = verify_per_s * cores / validators
    progress(f"{suite}: {verify_per_s:,.0f} verify/s per core; limit {limit:,.0f} tx/s for {validators} validators on {cores} cores")
    with tempfile.TemporaryDirectory(prefix="consortia-bench-") as tmp:
        net = make_bench_net(Path(tmp), suite, validators=validators, consensus=cfg.consensus, verify_workers=cfg.verify_workers,
                             params=cfg.params)
        net.start()
        try:
            await net.wait_ready(120)
            await _wait_meshed(net, list(range(validators)), 120)
            targets = Targets()
            if set(cfg.kinds) - {"system_call"}:
                progress("deploying evidence, DID, catalog and points; one authorization per user")
                targets = await setup_contracts(net, Path(tmp))
            async with aiohttp.ClientSession() as session:
                head = await _block_number(session, net.nodes[0].url)
            watcher = BlockWatcher(net.nodes[0].url, head + 1)
            watcher.start()
            supply = TxSupply(net, targets)
            results: dict[str, list[RepeatResult]] = {k: [] for k in cfg.kinds}
            for r in range(cfg.repeat):
                for kind in cfg.kinds:
                    last = results[kind][-1].committed_tps if results[kind] else limit
                    results[kind].append(await run_repeat(net, supply, watcher, kind, r + 1, cfg, max(last, 50.0), verify_per_s,
                                                          limit, _labelled(progress, f"[{suite} n={validators} {kind} {r + 1}/{cfg.repeat}]"),
                                                          measured=bool(results[kind])))
            watcher.stop()
        finally:
            net.stop()
    kinds = []
    for kind, reps in results.items():
        summary, per_validator = summarise(reps)
        kinds.append(KindResult(kind, summary, per_validator, reps))
    return SizeResult(suite, cfg.consensus, validators, cores, verify_per_s, round(limit, 1), cfg.verify_workers, kinds)


def verify_rate_per_cpu_second(suite_name: str, seconds: float) -> float:
    """Signature verifications per CPU second of this process (one core), warm key cache.

    Counted against the process's own CPU time rather than the wall clock, so other tenants of
    a shared machine do not lower the limit the run is compared with."""
    suite = get_suite(suite_name)
    key = suite.generate_keypair()
    msg = os.urandom(MESSAGE_SIZE)
    sig = suite.sign(key.private_bytes, msg)
    n = 0
    start = time.process_time()
    while True:
        for _ in range(50):
            if not suite.verify(key.public_bytes, msg, sig):
                raise RuntimeError(f"suite {suite_name}: a fresh signature does not verify")
        n += 50
        used = time.process_time() - start
        if used >= seconds:
            return round(n / used, 1)


def _labelled(progress: Progress, label: str) -> Progress:
    return lambda message: progress(f"{label} {message}")


def scaling_rows(sizes: list[SizeResult]) -> list[dict[str, Any]]:
    """One row per suite, size and kind: the medians an operator compares across sizes."""
    rows = []
    for s in sizes:
        for k in s.kinds:
            m = {name: v["median"] for name, v in k.summary.items()}
            rows.append({"suite": s.suite, "validators": s.validators, "kind": k.kind, "committed_tps": m["committed_tps"],
                         "limit_tps": s.verification_limit_tps, "ratio_to_limit": m["ratio_to_limit"],
                         "half_p50_ms": m["half_p50_ms"], "half_p99_ms": m["half_p99_ms"],
                         "eighty_p50_ms": m["eighty_p50_ms"], "eighty_p99_ms": m["eighty_p99_ms"],
                         "cpu_us_per_tx": _median_of(k.validators, "cpu_us_per_tx"),
                         "peak_rss_mb": round(_median_of(k.validators, "peak_rss_bytes", max) / 2**20, 1),
                         "disk_mb_per_million_tx": round(_median_of(k.validators, "disk_bytes_per_tx"), 1)})
    return rows


def _median_of(validators: list[dict[str, Any]], figure: str, combine: Callable[[list[float]], float] | None = None) -> float:
    """Mean over validators of each one's median (or ``combine`` of them, e.g. max)."""
    values = [v[figure]["median"] for v in validators]
    if combine is not None:
        return float(combine(values))
    return round(sum(values) / len(values), 1)


async def run_all(suites: list[str], sizes: list[int], cfg: BenchConfig, cores: int, progress: Progress) -> list[SizeResult]:
    out = []
    for suite in suites:
        for n in sizes:
            out.append(await run_size(suite, n, cfg, cores, progress))
    return out
