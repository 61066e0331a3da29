"""``consortia net init|up|status|down``: a whole network of node homes under one directory."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from node.cli import netadd
from node.cli.common import CliError, network_nodes
from node.config import GENESIS_FILE, KEY_FILE, NodeConfig, P2PConfig, RpcConfig, save_key
from node.crypto import SUITES, get_suite
from node.errors import ConsortiaError
from node.genesis import CONSENSUS_ENGINES, Genesis, GenesisNode
from node.p2p.certs import make_ca, write_ca, write_node_tls
from node.sdk.client import RpcClient

PID_FILE = "node.pid"
ADMIN_KEY_FILE = "admin.key"  # in each node's home: the key of the organisation that runs the node
LOG_FILE = "node.log"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("net", help="create, start, inspect and stop a network of nodes")
    ns = p.add_subparsers(dest="net_cmd", required=True, metavar="COMMAND")

    init = ns.add_parser("init", help="write genesis, keys and one config per node under DIR")
    init.add_argument("dir", type=Path)
    init.add_argument("--validators", type=_positive, required=True, help="number of validator nodes (>= 1)")
    init.add_argument("--observers", type=_non_negative, default=0, help="number of observer nodes")
    init.add_argument("--suite", choices=SUITES, default="sm", help="crypto suite for the life of the chain")
    init.add_argument("--consensus", choices=CONSENSUS_ENGINES, default="pbft")
    init.add_argument("--base-port", type=int, default=26600, help="node i gets RPC port P+10i and p2p port P+10i+1")
    init.add_argument("--host", default="127.0.0.1", help="address every node binds and advertises")
    init.add_argument("--hosts", default=None,
                      help="multi-host: comma-separated HOST[:P2P_PORT] per node (validators first, then observers)")
    init.add_argument("--chain-id", default="consortia-local")
    init.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    init.set_defaults(func=net_init)

    up = ns.add_parser("up", help="start every node of DIR in the background and wait for blocks")
    up.add_argument("dir", type=Path)
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the network")
    up.add_argument("--contracts", default=None, metavar="all|NAMES",
                    help="then deploy the business contracts with validator-0's organisation admin key and record them in DIR/contracts.json")
    up.set_defaults(func=net_up)

    status = ns.add_parser("status", help="show each node's process, height and pool size")
    status.add_argument("dir", type=Path)
    status.set_defaults(func=net_status)

    down = ns.add_parser("down", help="stop every node of DIR")
    down.add_argument("dir", type=Path)
    down.set_defaults(func=net_down)

    netadd.register(ns)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# --- init ----------------------------------------------------------------------------------


def net_init(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if root.exists() and any(root.iterdir()) and not args.force:
        raise CliError(f"{root} is not empty; use --force to write into it")
    total = args.validators + args.observers
    if not 1 <= args.base_port or args.base_port + 10 * (total - 1) + 1 > 65535:
        raise CliError(f"ports from --base-port {args.base_port} do not fit below 65536 for {total} nodes")
    suite = get_suite(args.suite)
    names = [f"validator-{i}" for i in range(args.validators)] + [f"observer-{i}" for i in range(args.observers)]
    hosts = _parse_hosts(args.hosts, total, args.host, args.base_port)
    root.mkdir(parents=True, exist_ok=True)
    keys = {name: suite.generate_keypair() for name in names}
    # One organisation per node, each with its own admin key: the validators' organisations form
    # the governance committee (equal weights) and may deploy contracts; the observers'
    # organisations are regulators (non-voting, DESIGN.md).
    admins = {name: suite.generate_keypair() for name in names}
    member_addresses = tuple(suite.address(admins[n].public_bytes) for n in names if n.startswith("validator"))
    regulators = tuple(suite.address(admins[n].public_bytes) for n in names if n.startswith("observer"))
    nodes = []
    for i, name in enumerate(names):
        role = "validator" if name.startswith("validator") else "observer"
        nodes.append(GenesisNode(name, role, keys[name].public_bytes, hosts[i][0], hosts[i][1]))
    genesis = Genesis(
        chain_id=args.chain_id,
        suite=args.suite,
        consensus=args.consensus,
        timestamp_ms=int(time.time() * 1000),
        nodes=tuple(nodes),
        admins=member_addresses,
        committee={a: 1 for a in member_addresses},
        deployers=member_addresses,
        roles={"regulator": regulators} if regulators else {},
    )
    Genesis.from_json(genesis.to_json())  # validate (chain id and so on) before writing anything else
    genesis.save(root / GENESIS_FILE)
    ca = make_ca(args.chain_id)
    write_ca(root / "ca", ca)
    listing = []
    for i, (name, node) in enumerate(zip(names, nodes)):
        home = root / name
        home.mkdir(exist_ok=True)
        genesis.save(home / GENESIS_FILE)
        save_key(home / KEY_FILE, keys[name])
        save_key(home / ADMIN_KEY_FILE, admins[name])
        write_node_tls(home, ca, name, keys[name].public_bytes)
        rpc_port = args.base_port + 10 * i
        NodeConfig(
            name=name,
            role=node.role,
            rpc=RpcConfig(host=node.host, port=rpc_port),
            p2p=P2PConfig(host=node.host, port=node.p2p_port),
        ).save(home)
        listing.append(
            {"name": name, "role": node.role, "home": name, "rpc_url": f"http://{node.host}:{rpc_port}", "p2p": f"{node.host}:{node.p2p_port}",
             "organisation": name, "admin": "0x" + suite.address(admins[name].public_bytes).hex(),
             "admin_key": f"{name}/{ADMIN_KEY_FILE}"}
        )
    (root / "network.json").write_text(
        json.dumps({"chain_id": args.chain_id, "suite": args.suite, "consensus": args.consensus, "nodes": listing}, indent=2) + "\n"
    )
    print(f"network '{args.chain_id}' ({args.suite}, {args.consensus}) written to {root}")
    for entry in listing:
        print(f"  {entry['name']:<14} {entry['role']:<10} rpc {entry['rpc_url']}  p2p {entry['p2p']}")
    for entry in listing:
        what = "committee member, may deploy" if entry["role"] == "validator" else "regulator"
        print(f"  organisation {entry['organisation']:<14} admin {entry['admin']} ({what}) key {root / entry['admin_key']}")
    return 0


def _parse_hosts(spec: str | None, total: int, default_host: str, base_port: int) -> list[tuple[str, int]]:
    """One (host, p2p port) per node; without --hosts every node is on ``default_host``."""
    if spec is None:
        return [(default_host, base_port + 10 * i + 1) for i in range(total)]
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    if len(entries) != total:
        raise CliError(f"--hosts lists {len(entries)} addresses but the network has {total} nodes")
    out = []
    for i, entry in enumerate(entries):
        host, _, port_text = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if not host:
            host, port_text = entry, ""
        try:
            port = int(port_text) if port_text else base_port + 10 * i + 1
        except ValueError:
            raise CliError(f"--hosts entry '{entry}' has a bad port") from None
        if not 0 < port < 65536:
            raise CliError(f"--hosts entry '{entry}' has a port out of range")
        out.append((host, port))
    return out


# --- process handling ----------------------------------------------------------------------


def _home(root: Path, entry: dict[str, Any]) -> Path:
    home = Path(entry["home"])
    return home if home.is_absolute() else root / home


def _running_pid(home: Path) -> int | None:
    try:
        pid = int((home / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie or an unrelated process reusing the pid is not our node.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"node" not in cmdline or str(home.resolve()).encode() not in cmdline:
            return None
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
        if state == "Z":
            return None
    except OSError:
        pass
    return pid


def _log_tail(home: Path, lines: int = 15) -> str:
    try:
        return "\n".join((home / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_node(home: Path) -> subprocess.Popen[bytes]:
    with open(home / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli.main", "node", "run", "--home", str(home.resolve())],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (home / PID_FILE).write_text(f"{proc.pid}\n")
    return proc


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
            if state == "Z":
                return
        except (ProcessLookupError, OSError):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def _wait_ready(url: str, validator: bool, proc: subprocess.Popen[bytes] | None, deadline: float) -> int:
    async with RpcClient(url, timeout=2.0) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise CliError(f"exited with code {proc.returncode}")
            try:
                height = await client.block_number()
                if not validator or height >= 1:
                    return height
            except ConsortiaError:
                pass
            if time.monotonic() > deadline:
                raise CliError("did not start producing blocks in time")
            await asyncio.sleep(0.2)


def net_up(args: argparse.Namespace) -> int:
    root: Path = args.dir
    entries = network_nodes(root)
    started: dict[str, subprocess.Popen[bytes]] = {}
    for entry in entries:
        home = _home(root, entry)
        if _running_pid(home) is not None:
            continue
        started[entry["name"]] = start_node(home)
    deadline = time.monotonic() + args.timeout
    for entry in entries:
        home = _home(root, entry)
        try:
            height = asyncio.run(_wait_ready(entry["rpc_url"], entry["role"] == "validator", started.get(entry["name"]), deadline))
        except CliError as exc:
            for name, proc in started.items():
                if proc.poll() is None:
                    _stop_pid(proc.pid)
                (_home(root, next(e for e in entries if e["name"] == name)) / PID_FILE).unlink(missing_ok=True)
            print(f"--- last lines of {home / LOG_FILE}", file=sys.stderr)
            print(_log_tail(home), file=sys.stderr)
            raise CliError(f"node {entry['name']} {exc}") from None
        note = "started" if entry["name"] in started else "already running"
        print(f"{entry['name']:<14} {entry['role']:<10} {entry['rpc_url']}  height {height}  ({note})")
    if args.contracts:
        from node.cli import contractset

        contractset.deploy(root, args.contracts)
    return 0


def net_status(args: argparse.Namespace) -> int:
    root: Path = args.dir
    entries = network_nodes(root)

    async def info(url: str) -> dict[str, Any] | None:
        try:
            async with RpcClient(url, timeout=2.0) as client:
                return await client.node_info()
        except ConsortiaError:
            return None

    print(f"{'node':<14} {'role':<10} {'pid':<8} {'rpc':<28} {'height':>8} {'pool':>6}")
    for entry in entries:
        home = _home(root, entry)
        pid = _running_pid(home)
        data = asyncio.run(info(entry["rpc_url"])) if pid is not None else None
        role = entry["role"]
        if data is None:
            height, pool = "-", "-"
            state = "stopped" if pid is None else "unreachable"
        else:
            height, pool, state = str(data["height"]), str(data["pool_size"]), ""
            role = str(data.get("role", role))  # the on-chain role: governance may have changed it
        print(f"{entry['name']:<14} {role:<10} {str(pid or '-'):<8} {entry['rpc_url']:<28} {height:>8} {pool:>6} {state}")
    return 0


def net_down(args: argparse.Namespace) -> int:
    root: Path = args.dir
    entries = network_nodes(root)
    stopped = 0
    for entry in entries:
        home = _home(root, entry)
        pid = _running_pid(home)
        if pid is not None:
            _stop_pid(pid)
            stopped += 1
            print(f"stopped {entry['name']} (pid {pid})")
        (home / PID_FILE).unlink(missing_ok=True)
    if not stopped:
        print("no node was running")
    return 0
