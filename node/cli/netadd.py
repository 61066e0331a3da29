"""``consortia net add-node``: a new organisation's node home for a running network.

Writes everything the new organisation needs to run its node -- node key, CA-signed TLS
certificate, config, a copy of genesis -- and its admin key, and touches nothing else: not
genesis, not the running nodes. The node is refused by every peer until governance admits it
to the on-chain node list, so this command ends by printing the proposal that does so.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

from node.cli.common import CliError, network_nodes
from node.config import GENESIS_FILE, KEY_FILE, NodeConfig, P2PConfig, RpcConfig, save_key
from node.crypto import get_suite
from node.genesis import Genesis
from node.p2p.certs import load_ca, write_node_tls

ADMIN_KEY_FILE = "admin.key"  # the organisation's admin account, beside its node's files
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def register(ns: argparse._SubParsersAction) -> None:
    add = ns.add_parser("add-node", help="make a new organisation's node home (key, certificate, config) for admission by vote")
    add.add_argument("dir", type=Path, help="network directory from 'consortia net init' (holds ca/ and genesis.json)")
    add.add_argument("--name", required=True, help="the new node's name (also its home directory under DIR)")
    add.add_argument("--host", default=None, help="address the node binds and advertises (default: the first node's host)")
    add.add_argument("--p2p-port", type=int, default=None, help="peer port (default: the RPC port + 1)")
    add.add_argument("--rpc-port", type=int, default=None, help="RPC port (default: the last node's + 10)")
    add.add_argument("--organisation", default=None, help="the organisation that runs the node (default: its name)")
    add.set_defaults(func=net_add_node)


def _port(text: str) -> int:
    return int(text.rsplit(":", 1)[1].rstrip("/"))


def _defaults(entries: list[dict[str, Any]], genesis: Genesis) -> tuple[str, int, int]:
    """(host, rpc port, p2p port) following ``net init``'s layout: ten ports after the last node's."""
    used = {_port(e["rpc_url"]) for e in entries} | {_port(e["p2p"]) for e in entries} | {n.p2p_port for n in genesis.nodes}
    rpc = max(_port(e["rpc_url"]) for e in entries) + 10
    while rpc in used or rpc + 1 in used:
        rpc += 10
    return genesis.nodes[0].host, rpc, rpc + 1


def net_add_node(args: argparse.Namespace) -> int:
    root: Path = args.dir
    name: str = args.name
    if not NAME_RE.match(name):
        raise CliError(f"--name '{name}' must be letters, digits, '.', '_' or '-' (at most 63)")
    entries = network_nodes(root)
    genesis = Genesis.load(root / GENESIS_FILE)
    home = root / name
    if home.exists() or any(e["name"] == name for e in entries) or any(n.name == name for n in genesis.nodes):
        raise CliError(f"a node named '{name}' already exists in {root}")
    host, rpc_port, p2p_port = _defaults(entries, genesis)
    host = args.host or host
    rpc_port = args.rpc_port if args.rpc_port is not None else rpc_port
    p2p_port = args.p2p_port if args.p2p_port is not None else p2p_port
    for what, port in (("--rpc-port", rpc_port), ("--p2p-port", p2p_port)):
        if not 0 < port < 65536:
            raise CliError(f"{what} {port} is out of range")
    if rpc_port == p2p_port:
        raise CliError("--rpc-port and --p2p-port must differ")
    taken = {(n.host, n.p2p_port) for n in genesis.nodes} | {(e["p2p"].rsplit(":", 1)[0], _port(e["p2p"])) for e in entries}
    taken |= {(e["rpc_url"].split("//", 1)[-1].rsplit(":", 1)[0], _port(e["rpc_url"])) for e in entries}
    for port in (rpc_port, p2p_port):
        if (host, port) in taken:
            raise CliError(f"{host}:{port} is already used by a node of {root}")
    ca = load_ca(root / "ca")  # before writing anything: without the CA there is nothing to do

    suite = get_suite(genesis.suite)
    key = suite.generate_keypair()
    admin = suite.generate_keypair()
    home.mkdir(parents=True)
    try:
        shutil.copyfile(root / GENESIS_FILE, home / GENESIS_FILE)
        save_key(home / KEY_FILE, key)
        save_key(home / ADMIN_KEY_FILE, admin)
        write_node_tls(home, ca, name, key.public_bytes)
        # "observer" until governance says otherwise: the node follows its on-chain role at runtime.
        NodeConfig(name=name, role="observer", rpc=RpcConfig(host=host, port=rpc_port), p2p=P2PConfig(host=host, port=p2p_port)).save(home)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    organisation = args.organisation or name
    admin_address = "0x" + suite.address(admin.public_bytes).hex()
    _append_to_network(root, {"name": name, "role": "observer", "home": name, "rpc_url": f"http://{host}:{rpc_port}",
                              "p2p": f"{host}:{p2p_port}", "organisation": organisation, "admin": admin_address,
                              "admin_key": f"{name}/{ADMIN_KEY_FILE}", "added": True})

    pubkey = "0x" + key.public_bytes.hex()
    # The admit_observer payload: the node-list entry's fields (docs/governance.md).
    payload = json.dumps({"pubkey": pubkey, "name": name, "host": host, "p2p_port": p2p_port, "organisation": organisation},
                         separators=(", ", ": "))
    member = _member_key(root, entries)
    print(f"node '{name}' written to {home} (not yet in the node list: peers refuse it until it is admitted)")
    print(f"  node public key   {pubkey}")
    print(f"  node address      0x{suite.address(key.public_bytes).hex()}")
    print(f"  admin account     {admin_address} key {home / ADMIN_KEY_FILE} (organisation {organisation})")
    print(f"  rpc http://{host}:{rpc_port}  p2p {host}:{p2p_port}")
    print("start it (it waits, refused, until admitted):")
    print(f"  consortia node run --home {home}")
    print("admit it as an observer: a committee member proposes (the proposal id is printed), members vote:")
    print(f"  consortia gov propose --net {root} --key {member} --type admit_observer --args '{payload}' "
          f"--reason 'admit {name}'")
    print(f"  consortia gov vote --net {root} --key OTHER_MEMBER_KEY PROPOSAL_ID --yes")
    print("once it has caught up, promote it to validator the same way:")
    print(f"  consortia gov propose --net {root} --key {member} --type promote_validator --args '{{\"pubkey\": \"{pubkey}\"}}'")
    return 0


def _member_key(root: Path, entries: list[dict[str, Any]]) -> str:
    """A committee member's key file to propose with: the first validator organisation's admin
    key that ``net init`` wrote (any member may propose)."""
    for entry in entries:
        if entry.get("role") == "validator" and entry.get("admin_key") and not entry.get("added"):
            return str(root / entry["admin_key"])
    return "MEMBER_KEY"


def _append_to_network(root: Path, entry: dict[str, Any]) -> None:
    """List the node in network.json so that ``net up/status/down`` include it."""
    path = root / "network.json"
    data = json.loads(path.read_text())
    data["nodes"].append(entry)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
