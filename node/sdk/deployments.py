"""Where a network's business contracts live: ``contracts.json`` in the network directory.

``deploy_all`` deploys the prebuilt set in dependency order (each contract's ``init`` gets the
addresses of the ones it calls) and the SDK and CLI read the addresses back with ``address_of``,
so nobody copies addresses around.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.sdk.client import Account
from node.sdk.contracts import ContractError, builtin_code, deploy

FILE_NAME = "contracts.json"

# Deploy order, and what each contract's init needs from those deployed before it.
InitArgs = Callable[[dict[str, bytes]], Any]
BUILTINS: dict[str, InitArgs | None] = {
    "evidence": None,
    "did": None,
    "catalog": lambda done: {"did": done["did"]},
    "points": lambda done: {"catalog": done["catalog"]},
    "task": lambda done: {"did": done["did"], "catalog": done["catalog"], "evidence": done["evidence"]},
    "rights": lambda done: {"did": done["did"], "points": done["points"]},
}

# Calls the deployer makes once a contract is deployed: (contract, method, args from the addresses).
LINKS: dict[str, list[tuple[str, str, Callable[[dict[str, bytes]], Any]]]] = {
    "points": [("catalog", "link_points", lambda done: {"points": done["points"]})],
    "task": [("catalog", "link_task", lambda done: {"task": done["task"]})],
    "rights": [("points", "add_settler", lambda done: {"contract": done["rights"]})],
}


def load(net_dir: Path) -> dict[str, bytes]:
    """Name -> address of the contracts recorded for the network in ``net_dir`` (empty if none yet)."""
    path = Path(net_dir) / FILE_NAME
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {name: bytes.fromhex(entry["address"][2:]) for name, entry in raw["contracts"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is invalid: {exc}") from None


def save(net_dir: Path, entries: dict[str, dict[str, Any]]) -> Path:
    """Merge ``entries`` (name -> {address, code_hash, tx}) into ``contracts.json``."""
    path = Path(net_dir) / FILE_NAME
    current: dict[str, Any] = {"contracts": {}}
    if path.exists():
        current = json.loads(path.read_text())
    current["contracts"].update(entries)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def address_of(net_dir: Path, name: str) -> bytes:
    """The address of contract ``name`` on the network in ``net_dir``; a clear error if it is not deployed."""
    found = load(net_dir).get(name)
    if found is None:
        raise ConfigError(f"no '{name}' contract recorded in {Path(net_dir) / FILE_NAME}; "
                          f"deploy the set with 'consortia contract deploy-all --net {net_dir} --key KEY'")
    return found


def init_args_for(name: str, done: dict[str, bytes]) -> Any:
    """The init arguments of builtin ``name`` given the addresses already deployed."""
    if name not in BUILTINS:
        raise ConfigError(f"unknown builtin contract '{name}' (known: {', '.join(BUILTINS)})")
    make = BUILTINS[name]
    if make is None:
        return None
    try:
        return make(done)
    except KeyError as exc:
        raise ConfigError(f"'{name}' needs the {exc.args[0]} contract deployed first") from None


async def link(account: Account, name: str, done: dict[str, bytes], log: Callable[[str], None] = lambda _: None) -> None:
    """Make the calls that wire a freshly deployed ``name`` to the contracts before it."""
    for target, method, make in LINKS.get(name, []):
        result = await account.send(done[target], method, make(done), fuel_limit=5_000_000)
        if not result["receipt"]["ok"]:
            raise ContractError(f"{name} is deployed and recorded, but {target}.{method} failed: {result['receipt']['error']} "
                                f"(the account that deployed {target} must make this call)", result["receipt"])
        log(f"{target}: {method} done")


async def deploy_all(account: Account, net_dir: Path, names: list[str] | None = None,
                     log: Callable[[str], None] = lambda _: None) -> dict[str, bytes]:
    """Deploy ``names`` (default: every builtin) in dependency order, skipping recorded ones; record them."""
    wanted = list(BUILTINS) if names is None else [n for n in BUILTINS if n in names]
    done = load(net_dir)
    for name in wanted:
        if name in done:
            log(f"{name}: already at 0x{done[name].hex()}")
            continue
        d = await deploy(account, builtin_code(name), init_args_for(name, done))
        done[name] = d.address
        save(net_dir, {name: {"address": "0x" + d.address.hex(), "code_hash": "0x" + d.code_hash.hex(), "tx": d.tx_hash}})
        log(f"{name}: deployed at 0x{d.address.hex()}")
        await link(account, name, done, log)
    return done
