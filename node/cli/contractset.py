"""Deploy the business contracts onto a network that just came up (``net up --contracts``).

Kept out of ``net.py``: that module only learns one option and one call.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from node.cli.common import CliError, network_nodes
from node.config import load_key
from node.sdk.client import Account, RpcClient
from node.sdk.deployments import BUILTINS, deploy_all


def parse(spec: str) -> list[str]:
    """``all`` or a comma-separated list of builtin names (dependencies must be listed too)."""
    if spec == "all":
        return list(BUILTINS)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in BUILTINS]
    if unknown:
        raise CliError(f"unknown contracts: {', '.join(unknown)} (known: {', '.join(BUILTINS)}, or 'all')")
    return names


def deployer_key_path(net_dir: Path) -> Path:
    """The first validator organisation's admin key (``net init`` makes those committee members
    with deploy rights): the key that deploys and links the business contracts."""
    for entry in network_nodes(net_dir):
        if entry.get("role") == "validator" and entry.get("admin_key") and not entry.get("added"):
            return Path(net_dir) / entry["admin_key"]
    raise CliError(f"{Path(net_dir) / 'network.json'} names no validator organisation's admin key to deploy with")


def deploy(net_dir: Path, spec: str) -> dict[str, bytes]:
    """Deploy with the first validator organisation's admin key; addresses land in DIR/contracts.json."""
    names = parse(spec)
    key = load_key(deployer_key_path(net_dir))
    url = network_nodes(net_dir)[0]["rpc_url"]

    async def go() -> dict[str, bytes]:
        async with RpcClient(url) as client:
            account = await Account.connect(client, key)
            return await deploy_all(account, net_dir, names, log=lambda m: print(f"  contracts: {m}", file=sys.stderr))

    done = asyncio.run(go())
    for name in names:
        print(f"{name:<14} 0x{done[name].hex()}")
    return done
