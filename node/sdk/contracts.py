"""Deploying and calling WASM contracts from Python, and finding the prebuilt ones.

The prebuilt contracts in ``contracts_wasm/dist`` are checked against ``manifest.json`` before
use, so a corrupted or hand-edited file is never deployed by mistake.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConsortiaError
from node.execution.system.registry import address_of
from node.sdk.args import decode_return, encode_args
from node.sdk.client import Account, RpcClient

DIST_DIR = Path(__file__).resolve().parents[2] / "contracts_wasm" / "dist"
REGISTRY_ADDRESS = address_of("contracts")
DEPLOY_FUEL = 200_000_000


class ContractError(ConsortiaError):
    """A contract call failed; ``receipt`` says why."""

    code = -32007
    kind = "contract_failed"

    def __init__(self, message: str, receipt: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt


def builtin_code(name: str, dist_dir: Path = DIST_DIR) -> bytes:
    """The prebuilt contract ``name`` (e.g. ``evidence``), verified against the manifest's sha256."""
    manifest_path = dist_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConsortiaError(f"cannot read {manifest_path}: {exc}") from None
    entry = manifest.get("contracts", {}).get(name)
    if entry is None:
        known = ", ".join(sorted(manifest.get("contracts", {}))) or "none"
        raise ConsortiaError(f"no prebuilt contract '{name}' (known: {known})")
    code = (dist_dir / entry["file"]).read_bytes()
    if hashlib.sha256(code).hexdigest() != entry["sha256"]:
        raise ConsortiaError(f"{dist_dir / entry['file']} does not match its sha256 in manifest.json; rebuild with contracts_wasm/build.sh")
    return code


@dataclass
class Deployment:
    address: bytes
    code_hash: bytes
    tx_hash: str
    receipt: dict[str, Any]


async def deploy(account: Account, code: bytes, init_args: Any = None, *, fuel_limit: int = DEPLOY_FUEL,
                 timeout: float = 60.0) -> Deployment:
    """Deploy ``code``; ``init_args`` (if not None) are passed to the contract's ``init`` method."""
    args: dict[str, Any] = {"code": code}
    if init_args is not None:
        args["init_args"] = encode_args(init_args)
    result = await account.send(b"", "deploy", args, fuel_limit=fuel_limit, timeout=timeout)
    receipt = result["receipt"]
    if not receipt["ok"]:
        raise ContractError(f"deploy failed: {receipt['error']}", receipt)
    out = decode_return(bytes.fromhex(receipt["return_value"][2:]))
    return Deployment(address=out["address"], code_hash=out["code_hash"], tx_hash=result["hash"], receipt=receipt)


class Contract:
    """A deployed contract at ``address``: ``call`` sends transactions, ``query`` reads without one."""

    def __init__(self, client: RpcClient, address: bytes, account: Account | None = None) -> None:
        self.client = client
        self.address = address
        self.account = account

    async def call(self, method: str, args: Any = None, *, fuel_limit: int = 5_000_000, timeout: float = 30.0) -> Any:
        """Send a call and wait for it; returns the decoded return value or raises ContractError."""
        if self.account is None:
            raise ConsortiaError("this Contract has no account to sign calls with")
        result = await self.account.send(self.address, method, args, fuel_limit=fuel_limit, timeout=timeout)
        receipt = result["receipt"]
        if not receipt["ok"]:
            raise ContractError(f"{method} failed: {receipt['error']}", receipt)
        raw = bytes.fromhex(receipt["return_value"][2:])
        return decode_return(raw) if raw else None

    async def query(self, method: str, args: Any = None) -> Any:
        return await self.client.query(self.address, method, args)

    async def info(self) -> dict[str, Any] | None:
        """Registry entry: code hash, deployer, height and deploy transaction."""
        return await self.client.query(REGISTRY_ADDRESS, "info", {"address": self.address})
