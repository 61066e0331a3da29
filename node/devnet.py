"""Throw-away local networks for benchmarks, the demo and tests: write node homes, run processes.

``consortia net init/up/down`` is the operator-facing way; this module is the programmatic one
(free ports, extra admin accounts, per-run chain parameters) and starts the same
``consortia node run`` processes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from node.config import GENESIS_FILE, KEY_FILE, NodeConfig, P2PConfig, PoolConfig, RpcConfig, save_key
from node.crypto import get_suite
from node.crypto.base import KeyPair
from node.execution.system.committee import DEFAULT_PARTICIPATION, DEFAULT_WIN
from node.genesis import Genesis, GenesisNode
from node.p2p.certs import make_ca, write_node_tls

# Ports are taken below the kernel's ephemeral range (32768+ by default), so that outgoing
# connections of other processes cannot grab a port between our check and the node's bind.
_PORT_RANGE = (20_000, 32_000)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port that is free now and outside the ephemeral range."""
    return free_port_block(1, step=1)


def free_port_block(nodes: int, step: int = 10) -> int:
    """A base port P such that P + step*i and P + step*i + 1 are free for every node i
    (the layout ``consortia net init --base-port`` uses)."""
    rng = random.SystemRandom()
    for _ in range(1_000):
        base = rng.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - step * nodes - 2)
        ports = [base + step * i + k for i in range(nodes) for k in (0, 1)] if step > 1 else [base]
        if all(_bindable(p) for p in ports):
            return base
    raise RuntimeError("no free block of loopback ports found")


@dataclass
class LocalNode:
    name: str
    home: Path
    key: KeyPair
    rpc_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node.cli.main", "node", "run", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        body = {"jsonrpc": "2.0", "id": 1, "method": "chain_blockNumber"}
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
                try:
                    async with session.post(self.url, json=body) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer RPC within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


@dataclass
class LocalNet:
    root: Path
    genesis: Genesis
    nodes: list[LocalNode]
    admins: list[KeyPair] = field(default_factory=list)

    @property
    def suite_name(self) -> str:
        return self.genesis.suite

    def start(self) -> None:
        for n in self.nodes:
            n.start()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        for n in self.nodes:
            await n.wait_ready(timeout)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def make_local_net(
    root: Path,
    suite_name: str,
    *,
    validators: int = 1,
    observers: int = 0,
    admins: int = 1,
    participation_rate: int = DEFAULT_PARTICIPATION,
    win_rate: int = DEFAULT_WIN,
    params: dict[str, int] | None = None,
    chain_id: str = "consortia-dev",
    consensus: str = "pbft",
    verify_workers: int = -1,
) -> LocalNet:
    """Write homes for ``validators`` nodes under ``root`` with ``admins`` admin accounts, which
    form the governance committee (equal weights, the given rates) and may deploy contracts.
    Load generators pass ``participation_rate=0, win_rate=1`` so any one admin's proposal passes
    in its own transaction."""
    suite = get_suite(suite_name)
    total = validators + observers
    names = [f"validator-{i}" for i in range(validators)] + [f"observer-{i}" for i in range(observers)]
    keys = [suite.generate_keypair() for _ in range(total)]
    admin_keys = [suite.generate_keypair() for _ in range(admins)]
    base = free_port_block(total)  # node i: RPC base + 10i, p2p base + 10i + 1 (as net init lays them out)
    p2p_ports = [base + 10 * i + 1 for i in range(total)]
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite_name,
        consensus=consensus,
        timestamp_ms=int(time.time() * 1000),
        nodes=tuple(
            GenesisNode(names[i], _role(names[i]), k.public_bytes, "127.0.0.1", p2p_ports[i]) for i, k in enumerate(keys)
        ),
        admins=tuple(suite.address(k.public_bytes) for k in admin_keys),
        params=params or {},
        participation_rate=participation_rate,
        win_rate=win_rate,
    )
    ca = make_ca(chain_id)
    nodes = []
    for i, key in enumerate(keys):
        home = root / names[i]
        home.mkdir(parents=True, exist_ok=True)
        genesis.save(home / GENESIS_FILE)
        save_key(home / KEY_FILE, key)
        write_node_tls(home, ca, names[i], key.public_bytes)
        rpc_port = base + 10 * i
        NodeConfig(name=names[i], role=_role(names[i]), rpc=RpcConfig(port=rpc_port), p2p=P2PConfig(port=p2p_ports[i]),
                   pool=PoolConfig(verify_workers=verify_workers)).save(home)
        nodes.append(LocalNode(name=names[i], home=home, key=key, rpc_port=rpc_port))
    return LocalNet(root=root, genesis=genesis, nodes=nodes, admins=admin_keys)


def _role(name: str) -> str:
    return "validator" if name.startswith("validator") else "observer"
