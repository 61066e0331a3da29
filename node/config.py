"""A node's home directory: ``config.toml``, ``genesis.json``, ``node.key`` and ``data/``.

Only node-local settings live here (addresses, ports, pool size, logging). Everything that must be
the same on every node (chain parameters, the validator set) lives in genesis and on chain.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from node.crypto import get_suite
from node.crypto.base import KeyPair
from node.errors import ConfigError, ConsortiaError

CONFIG_FILE = "config.toml"
GENESIS_FILE = "genesis.json"
KEY_FILE = "node.key"
DATA_DIR = "data"


# A web origin as browsers send it in the Origin header: scheme://host[:port], nothing after.
_ORIGIN_RE = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?$")


def check_origin(value: object) -> str:
    """``value`` as a normalized (lower-case) web origin, or ConfigError: CORS compares exactly."""
    if not isinstance(value, str) or not _ORIGIN_RE.match(value.lower()):
        raise ConfigError(
            f"rpc.cors_origins: {value!r} is not an origin like 'https://app.example.com' or 'http://localhost:3000' "
            "(scheme, host and optional port; no path, no trailing slash, no wildcard)"
        )
    return value.lower()


@dataclass
class RpcConfig:
    host: str = "127.0.0.1"
    port: int = 8545
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch: int = 500
    max_ws_subscriptions: int = 64
    # Web origins whose pages may call this node from a browser (CORS and WebSocket Origin).
    # Empty: no browser page on another origin may (no CORS headers, preflights refused).
    cors_origins: list[str] = field(default_factory=list)


@dataclass
class P2PConfig:
    host: str = "127.0.0.1"
    port: int = 26656


@dataclass
class PoolConfig:
    capacity: int = 50_000
    per_sender: int = 10_000
    verify_workers: int = -1  # processes verifying signatures; -1 = one per core beyond the first


@dataclass
class SyncConfig:
    """How this node catches up (docs/snapshot-sync.md). ``full``: fetch and re-execute every
    block from its head (the default: the regulator and every archival node keep the whole
    verified history). ``snapshot``: when it starts ``snapshot_min_blocks`` or more behind its
    best peer, fetch the state at a recent certified block instead, then follow blocks."""

    mode: str = "full"
    snapshot_min_blocks: int = 1_000


@dataclass
class StoreConfig:
    """How much history of the state tree this node keeps (docs/state-proofs.md, "Pruning").
    ``state_history_blocks``: 0 (the default, on every role) keeps every version: proofs at any
    height, which the regulator's observer needs; N keeps the trees of the last N blocks and
    deletes older versions' nodes, at a measured cost per block (so it is a choice, not a default)."""

    state_history_blocks: int = 0


@dataclass
class NodeConfig:
    name: str
    role: str
    rpc: RpcConfig = field(default_factory=RpcConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    log_level: str = "info"

    def state_history(self) -> int:
        """Blocks of state-tree history to keep; 0: all (``StoreConfig``)."""
        return self.store.state_history_blocks

    def to_toml(self) -> dict[str, Any]:
        return {
            "node": {"name": self.name, "role": self.role, "log_level": self.log_level},
            "rpc": asdict(self.rpc),
            "p2p": asdict(self.p2p),
            "pool": asdict(self.pool),
            "sync": asdict(self.sync),
            "store": asdict(self.store),
        }

    def save(self, home: Path) -> None:
        (home / CONFIG_FILE).write_text(tomli_w.dumps(self.to_toml()))

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        path = home / CONFIG_FILE
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path} not found (is {home} a node home made by 'consortia net init'?)") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        try:
            node = raw["node"]
            cfg = cls(
                name=str(node["name"]),
                role=str(node["role"]),
                log_level=str(node.get("log_level", "info")),
                rpc=RpcConfig(**raw.get("rpc", {})),
                p2p=P2PConfig(**raw.get("p2p", {})),
                pool=PoolConfig(**raw.get("pool", {})),
                sync=SyncConfig(**raw.get("sync", {})),
                store=StoreConfig(**raw.get("store", {})),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: missing or unknown setting ({exc})") from None
        if cfg.role not in ("validator", "observer"):
            raise ConfigError(f"{path}: node.role must be 'validator' or 'observer'")
        for what, port in (("rpc.port", cfg.rpc.port), ("p2p.port", cfg.p2p.port)):
            if not isinstance(port, int) or not 0 <= port < 65536:
                raise ConfigError(f"{path}: {what} must be 0..65535")
        if cfg.sync.mode not in ("full", "snapshot"):
            raise ConfigError(f"{path}: sync.mode must be 'full' or 'snapshot'")
        min_blocks = cfg.sync.snapshot_min_blocks
        if not isinstance(min_blocks, int) or isinstance(min_blocks, bool) or min_blocks < 1:
            raise ConfigError(f"{path}: sync.snapshot_min_blocks must be a positive integer")
        history = cfg.store.state_history_blocks
        if not isinstance(history, int) or isinstance(history, bool) or history < 0:
            raise ConfigError(f"{path}: store.state_history_blocks must be 0 (archival) or a positive number of blocks")
        if not isinstance(cfg.rpc.cors_origins, list):
            raise ConfigError(f"{path}: rpc.cors_origins must be a list of origins")
        try:
            cfg.rpc.cors_origins = [check_origin(o) for o in cfg.rpc.cors_origins]
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
        return cfg


def save_key(path: Path, key: KeyPair) -> None:
    """Write a key file readable only by its owner: JSON ``{suite, private_key, public_key}``,
    the keys as 0x-hex in the suite's encoding (docs/transaction-format.md, "Key files")."""
    body = json.dumps(
        {"suite": key.suite, "private_key": "0x" + key.private_bytes.hex(), "public_key": "0x" + key.public_bytes.hex()},
        indent=2,
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body + "\n")


def load_key(path: Path) -> KeyPair:
    try:
        raw = json.loads(Path(path).read_text())
        suite = get_suite(raw["suite"])
        priv = raw["private_key"]
        if not isinstance(priv, str) or not priv.startswith("0x"):
            raise ValueError("private_key must be 0x-hex")
        key = suite.keypair_from_private(bytes.fromhex(priv[2:]))
        public = raw.get("public_key")
        if public is not None and (not isinstance(public, str) or public.lower() != "0x" + key.public_bytes.hex()):
            # A file edited by hand or by another tool: refuse rather than sign as someone else.
            raise ValueError("public_key does not belong to private_key")
        return key
    except FileNotFoundError:
        raise ConfigError(f"key file {path} not found") from None
    except ConsortiaError as exc:
        raise ConfigError(f"key file {path}: {exc.message}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"key file {path} is invalid ({exc.__class__.__name__}: {exc})") from None
