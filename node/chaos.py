"""Fault injection against a real local network under load, then a check of what must hold.

A 4-validator + 1-observer network runs as real processes on loopback while a load generator
sends transactions and a fault loop, driven by one seeded random generator, kills (``kill -9``)
and restarts validators (never more than f at once), kills the current primary or leader,
pauses one validator (SIGSTOP/SIGCONT) or two at once for a short while (the chain may stall,
it must not fork), and restarts the observer. At the end every node is resumed and given time to
converge, and the run checks:

- every transaction that got a receipt is in the chain of every node, at the same place;
- every node has the same block hash and state root at the common height;
- every block's commit certificate verifies against the validator set (on one node, all
  heights; on every node, the head);
- no process started for the network is left once it is stopped (node processes and their
  signature-verification workers).

``consortia chaos`` runs it and prints a summary; the exit status is non-zero on any violation.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from consensus.certificate import verify_certificate
from consensus.registry import certificate_quorum
from node.crypto import get_suite
from node.devnet import LocalNet, LocalNode, make_local_net
from node.errors import ConsortiaError
from node.execution.system.registry import address_of
from node.sdk import Account, RpcClient
from node.sdk.governance import param_proposal
from node.wire.types import CommitCertificate

PARAMS = {"block_interval_ms": 300, "min_seal_ms": 10, "consensus_timeout_ms": 1500, "tx_expiry_window": 100_000}
FAULTS = ("kill_restart", "kill_primary", "pause_one", "pause_two", "restart_observer")


@dataclass
class ChaosReport:
    seed: int
    suite: str
    consensus: str
    seconds: float
    faults: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    acknowledged: int = 0
    committed: int = 0
    height: int = 0
    longest_stall_s: float = 0.0
    uncommitted: dict[str, int] = field(default_factory=dict)  # acknowledged, never committed: by what the nodes say
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        faults = " ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        lines = [
            f"chaos suite={self.suite} consensus={self.consensus} seed={self.seed} seconds={self.seconds:.0f} "
            f"height={self.height} sent={self.sent} acknowledged={self.acknowledged} committed={self.committed} "
            f"uncommitted={self.acknowledged - self.committed} longest_stall_s={self.longest_stall_s:.1f}",
            f"faults {faults or 'none'}",
            "uncommitted " + (" ".join(f"{k}={v}" for k, v in sorted(self.uncommitted.items())) or "none"),
            "result " + ("ok" if self.ok else f"{len(self.violations)} violation(s)"),
        ]
        lines += [f"violation {v}" for v in self.violations]
        return "\n".join(lines)


class _Load:
    """A steady stream of state-changing transactions to the validators that are running."""

    def __init__(self, net: LocalNet, live: set[int], rate: float, rng: random.Random) -> None:
        self.net, self.live, self.rate, self.rng = net, live, rate, rng
        self.sent = 0
        self.acknowledged: list[bytes] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        committee = address_of("committee")
        while not self._stop.is_set():
            targets = sorted(i for i in self.live if i < 4)
            if targets:
                node = self.net.nodes[self.rng.choice(targets)]
                self.sent += 1
                try:
                    async with RpcClient(node.url, timeout=2) as client:
                        account = await Account.connect(client, self.net.admins[self.sent % len(self.net.admins)])
                        out = await account.send(committee, "propose", param_proposal("block_tx_limit", 1000 + self.sent % 4000),
                                                 wait=False)
                        self.acknowledged.append(bytes.fromhex(out["hash"][2:]))
                except (TimeoutError, ConsortiaError, OSError):
                    pass  # a node just killed or paused: the client would retry elsewhere
            await asyncio.sleep(1 / self.rate)

    def stop(self) -> None:
        self._stop.set()


async def _height(node: LocalNode) -> int:
    try:
        async with RpcClient(node.url, timeout=2) as c:
            return int(await c.block_number())
    except (TimeoutError, ConsortiaError, OSError):
        return -1


async def _primary(net: LocalNet, live: set[int]) -> int | None:
    for i in sorted(live):
        if i >= 4:
            continue
        try:
            async with RpcClient(net.nodes[i].url, timeout=2) as c:
                info = await c.node_info()
            key = info["engine"].get("primary")
            return next((j for j, n in enumerate(net.nodes[:4]) if "0x" + n.key.public_bytes.hex() == key), None)
        except (TimeoutError, ConsortiaError, OSError):
            continue
    return None


def _signal(node: LocalNode, sig: signal.Signals) -> None:
    if node.proc is not None and node.proc.poll() is None:
        os.killpg(node.proc.pid, sig)


def _kill9(node: LocalNode) -> None:
    """``kill -9`` of the node process alone, as an operator or the OOM killer would: whatever it
    started must notice by itself (its process group is not killed with it)."""
    if node.proc is not None and node.proc.poll() is None:
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)


async def _faults(net: LocalNet, live: set[int], rng: random.Random, report: ChaosReport, until: float) -> None:
    """One fault every few seconds; at most one validator (f = 1 of 4) down or paused at a time,
    except ``pause_two``, a short deliberate loss of quorum."""
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        if time.monotonic() >= until:
            break
        fault = rng.choice(FAULTS)
        report.faults[fault] = report.faults.get(fault, 0) + 1
        if fault in ("kill_restart", "kill_primary"):
            victim = await _primary(net, live) if fault == "kill_primary" else rng.randrange(4)
            if victim is None:
                victim = rng.randrange(4)
            _kill9(net.nodes[victim])
            live.discard(victim)
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            net.nodes[victim].start()
            await net.nodes[victim].wait_ready(30)
            live.add(victim)
        elif fault in ("pause_one", "pause_two"):
            victims = rng.sample(range(4), 1 if fault == "pause_one" else 2)
            for v in victims:
                _signal(net.nodes[v], signal.SIGSTOP)
                live.discard(v)
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            for v in victims:
                _signal(net.nodes[v], signal.SIGCONT)
                live.add(v)
        else:
            observer = net.nodes[4]
            _kill9(observer)
            await asyncio.sleep(0.5)
            observer.start()
            await observer.wait_ready(30)


async def _watch_stalls(net: LocalNet, report: ChaosReport, stop: asyncio.Event) -> None:
    last, since = -1, time.monotonic()
    while not stop.is_set():
        heights = [await _height(n) for n in net.nodes[:4]]
        best = max(heights)
        now = time.monotonic()
        if best > last:
            last, since = best, now
        report.longest_stall_s = max(report.longest_stall_s, now - since)
        await asyncio.sleep(0.5)


async def _converge(net: LocalNet, timeout: float) -> int:
    """Wait until every node reports the same height (and it stops moving between two looks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heights = [await _height(n) for n in net.nodes]
        if min(heights) >= 0 and max(heights) - min(heights) <= 1:
            return min(heights)
        await asyncio.sleep(0.5)
    return -1


async def _check(net: LocalNet, report: ChaosReport, acknowledged: list[bytes]) -> None:
    height = await _converge(net, 120)
    if height < 0:
        report.violations.append(f"nodes did not converge: heights {[await _height(n) for n in net.nodes]}")
        return
    report.height = height
    heads = set()
    for n in net.nodes:
        async with RpcClient(n.url, timeout=10) as c:
            block = await c.get_block(height)
            heads.add((block["hash"], block["header"]["state_root"]) if block else None)
    if len(heads) != 1:
        report.violations.append(f"nodes differ at height {height}: {sorted(map(str, heads))}")
    # Certificates: every height on one node, the head on every node.
    async with RpcClient(net.nodes[0].url, timeout=10) as c:
        info = await c.node_info()
        validators = [bytes.fromhex(v[2:]) for v in info["validators"]]
        quorum = certificate_quorum(info["consensus"], len(validators))
        crypto = get_suite(net.genesis.suite)
        for h in range(1, height + 1):
            block = await c.get_block(h)
            cert_info = await c.call("chain_getCertificate", h)
            try:
                if block is None or cert_info is None:
                    raise ConsortiaError("block or certificate missing")
                cert = CommitCertificate.decode(bytes.fromhex(cert_info["raw"][2:]))
                verify_certificate(crypto, cert, chain_id=net.genesis.chain_id, height=h,
                                   block_hash=bytes.fromhex(block["hash"][2:]), validators=validators, quorum=quorum)
            except ConsortiaError as exc:
                report.violations.append(f"block {h}: certificate does not verify: {exc.message}")
    # Every transaction with a receipt is committed at the same place on every node.
    reference = net.nodes[0]
    async with RpcClient(reference.url, timeout=10) as c:
        receipts = {}
        for tx_hash in acknowledged:
            r = await c.call("tx_getReceipt", "0x" + tx_hash.hex())
            if r is not None:
                receipts[tx_hash] = (r["height"], r["index"])
    report.committed = len(receipts)
    await _explain_uncommitted(net, report, [h for h in acknowledged if h not in receipts])
    for n in net.nodes[1:]:
        async with RpcClient(n.url, timeout=10) as c:
            for tx_hash, place in receipts.items():
                r = await c.call("tx_getReceipt", "0x" + tx_hash.hex())
                found = None if r is None else (r["height"], r["index"])
                if found != place:
                    report.violations.append(
                        f"{n.name}: transaction 0x{tx_hash.hex()} committed on {reference.name} at {place} is at {found}"
                    )


async def _explain_uncommitted(net: LocalNet, report: ChaosReport, missing: list[bytes]) -> None:
    """What the nodes say about acknowledged transactions that never committed: dropped (with
    the reason), still pending somewhere, or unknown everywhere (lost with a node's pool)."""
    for tx_hash in missing:
        fate = "unknown"
        for n in net.nodes:
            async with RpcClient(n.url, timeout=10) as c:
                found = await c.call("tx_get", "0x" + tx_hash.hex())
            if found is not None and found.get("status") == "dropped":
                fate = f"dropped_{found.get('reason')}"
                break
            if found is not None and found.get("status") == "pending":
                fate = "pending"
        report.uncommitted[fate] = report.uncommitted.get(fate, 0) + 1


def _leftover_processes(root: Path) -> list[int]:
    """Processes other than this one that were started for the run: node processes name its
    directory on their command line, and everything they start (signature-verification
    workers) inherits the ``CONSORTIA_CHAOS_RUN`` marker in its environment."""
    out = []
    mark = str(root)
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if mark in cmdline or f"CONSORTIA_CHAOS_RUN={mark}".encode() in environ:
            out.append(int(pid))
    return out


async def run_chaos(*, seconds: float = 120, suite: str = "std", consensus: str = "pbft", seed: int | None = None,
                    rate: float = 20.0, root: Path | None = None) -> ChaosReport:
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    report = ChaosReport(seed=seed, suite=suite, consensus=consensus, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="consortia-chaos-", dir=root) as tmp:
        base = Path(tmp)
        os.environ["CONSORTIA_CHAOS_RUN"] = str(base)  # inherited by every process of the run
        net = make_local_net(base, suite, validators=4, observers=1, admins=4, participation_rate=0, win_rate=1, params=PARAMS,
                             consensus=consensus)
        live = set(range(5))
        stop_watch = asyncio.Event()
        try:
            net.start()
            await net.wait_ready(60)
            load = _Load(net, live, rate, random.Random(seed + 1))  # its own generator: the faults replay by seed
            load_task = asyncio.create_task(load.run())
            watch_task = asyncio.create_task(_watch_stalls(net, report, stop_watch))
            await _faults(net, live, rng, report, time.monotonic() + seconds)
            load.stop()
            await load_task
            for n in net.nodes:  # resume anything paused, restart anything down
                _signal(n, signal.SIGCONT)
                if n.proc is None or n.proc.poll() is not None:
                    n.start()
            await net.wait_ready(60)
            stop_watch.set()
            await watch_task
            report.sent, report.acknowledged = load.sent, len(load.acknowledged)
            await _check(net, report, load.acknowledged)
        finally:
            stop_watch.set()
            for n in net.nodes:
                _signal(n, signal.SIGCONT)
            net.stop()
            os.environ.pop("CONSORTIA_CHAOS_RUN", None)
        await asyncio.sleep(2.0)  # workers notice their node is gone within half a second
        left = _leftover_processes(base)
        if left:
            report.violations.append(f"processes left after the network stopped: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    return report
