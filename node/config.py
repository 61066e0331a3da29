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
from node.params import ChainParams

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
    # Public callers (not from this machine, no admin token): requests per second per client
    # address on average, in bursts of up to rate_burst; 0 turns the limit off.
    rate_limit_per_s: float = 50.0
    rate_burst: int = 200
    # Callers from loopback are admins (admin-only methods, no rate limit). Turn off when a
    # reverse proxy on this machine forwards remote clients.
    admin_from_localhost: bool = True


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
class NodeConfig:
    name: str
    role: str
    rpc: RpcConfig = field(default_factory=RpcConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    log_level: str = "info"

    def to_toml(self) -> dict[str, Any]:
        return {
            "node": {"name": self.name, "role": self.role, "log_level": self.log_level},
            "rpc": asdict(self.rpc),
            "p2p": asdict(self.p2p),
            "pool": asdict(self.pool),
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
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: missing or unknown setting ({exc})") from None
        if cfg.role not in ("validator", "observer"):
            raise ConfigError(f"{path}: node.role must be 'validator' or 'observer'")
        for what, port in (("rpc.port", cfg.rpc.port), ("p2p.port", cfg.p2p.port)):
            if not isinstance(port, int) or not 0 <= port < 65536:
                raise ConfigError(f"{path}: {what} must be 0..65535")
        rate, burst = cfg.rpc.rate_limit_per_s, cfg.rpc.rate_burst
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0:
            raise ConfigError(f"{path}: rpc.rate_limit_per_s must be a non-negative number (0: no limit)")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigError(f"{path}: rpc.rate_burst must be an integer of at least 1")
        if not isinstance(cfg.rpc.admin_from_localhost, bool):
            raise ConfigError(f"{path}: rpc.admin_from_localhost must be true or false")
        if not isinstance(cfg.rpc.cors_origins, list):
            raise ConfigError(f"{path}: rpc.cors_origins must be a list of origins")
        try:
            cfg.rpc.cors_origins = [check_origin(o) for o in cfg.rpc.cors_origins]
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
        return cfg


TX_SEND_OVERHEAD = 512  # a tx_send request's JSON around the transaction's hex


def check_against_chain(cfg: NodeConfig, params: ChainParams) -> None:
    """Refuse local settings that contradict the chain's parameters (the node does not start).

    Chain parameters are the same on every node and change only by governance; a local value
    that makes this node refuse what the chain allows would split clients' view of the rules."""
    need = 2 * params.max_tx_bytes + TX_SEND_OVERHEAD
    if cfg.rpc.max_body_bytes < need:
        raise ConfigError(
            f"config.toml rpc.max_body_bytes = {cfg.rpc.max_body_bytes} contradicts the chain parameter max_tx_bytes = "
            f"{params.max_tx_bytes}: a transaction the chain accepts needs up to {need} bytes of tx_send body; "
            f"raise rpc.max_body_bytes to at least {need}"
        )


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
