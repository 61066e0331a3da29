"""A node's home directory: ``config.toml``, ``genesis.json``, ``node.key`` and ``data/``.

Only node-local settings live here (addresses, ports, pool size, logging). Everything that must be
the same on every node (chain parameters, the validator set) lives in genesis and on chain.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from node.errors import ConfigError

# Key files live in node.keyfile; re-exported because many callers read keys beside the config.
from node.keyfile import load_key as load_key
from node.keyfile import save_key as save_key
from node.logsetup import FORMATS, LEVELS, LogSettings
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
    # Connection limits (docs/security.md): open connections in total, connections that have not
    # yet sent a complete first request (in total and per source address), and the seconds they get.
    max_connections: int = 4096
    max_pending: int = 512
    max_pending_per_ip: int = 256
    handshake_timeout: float = 10.0
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
    # Before a peer is authenticated (docs/security.md): seconds for TLS and the hello, and how many
    # such connections may be open in total and per source address.
    handshake_timeout: float = 5.0
    max_pending: int = 256
    max_pending_per_ip: int = 8
    # Links ping every keepalive_interval seconds; one silent for idle_timeout seconds is closed.
    keepalive_interval: float = 5.0
    idle_timeout: float = 20.0


@dataclass
class LimitsConfig:
    # Raise the soft open-file limit to this at start (as far as the hard limit allows; 0: leave it).
    open_files: int = 65536
    # Descriptors kept free: the P2P port takes no new connection within fd_reserve of the soft
    # limit, the RPC port none within fd_reserve / 2; the rest is for established peers and the database.
    fd_reserve: int = 128
    # Refusal and accept-error log lines: at most one per source and reason per this many seconds.
    log_interval: float = 10.0


@dataclass
class PoolConfig:
    capacity: int = 50_000
    per_sender: int = 10_000
    verify_workers: int = -1  # processes verifying signatures; -1 = one per core beyond the first
    journal: bool = True  # keep acknowledged client transactions in <home>/txpool.journal until they leave the pool


@dataclass
class LogConfig:
    level: str = "info"  # debug | info | warning | error
    format: str = "kv"  # kv: key=value text; json: one JSON object per line
    file: str = ""  # empty: stderr; else a path (relative to the node home) rotated by size
    max_bytes: int = 50 * 1024 * 1024
    backups: int = 5

    def check(self, path: Path) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"{path}: log.level must be one of {', '.join(LEVELS)}")
        if self.format not in FORMATS:
            raise ConfigError(f"{path}: log.format must be one of {', '.join(FORMATS)}")
        if not isinstance(self.file, str):
            raise ConfigError(f"{path}: log.file must be a path (or empty for stderr)")
        if not isinstance(self.max_bytes, int) or isinstance(self.max_bytes, bool) or self.max_bytes < 64 * 1024:
            raise ConfigError(f"{path}: log.max_bytes must be an integer of at least 65536")
        if not isinstance(self.backups, int) or isinstance(self.backups, bool) or not 0 <= self.backups <= 1000:
            raise ConfigError(f"{path}: log.backups must be an integer 0..1000")

    def settings(self, home: Path) -> LogSettings:
        return LogSettings(level=self.level, format=self.format, file=(home / self.file) if self.file else None,
                           max_bytes=self.max_bytes, backups=self.backups)


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
    log: LogConfig = field(default_factory=LogConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    def state_history(self) -> int:
        """Blocks of state-tree history to keep; 0: all (``StoreConfig``)."""
        return self.store.state_history_blocks

    def to_toml(self) -> dict[str, Any]:
        return {
            "node": {"name": self.name, "role": self.role},
            "rpc": asdict(self.rpc),
            "p2p": asdict(self.p2p),
            "pool": asdict(self.pool),
            "log": asdict(self.log),
            "limits": asdict(self.limits),
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
                # ``node.log_level`` is the older spelling of ``log.level``: still read, never written.
                log=LogConfig(**{"level": str(node.get("log_level", "info")), **raw.get("log", {})}),
                rpc=RpcConfig(**raw.get("rpc", {})),
                p2p=P2PConfig(**raw.get("p2p", {})),
                pool=PoolConfig(**raw.get("pool", {})),
                limits=LimitsConfig(**raw.get("limits", {})),
                sync=SyncConfig(**raw.get("sync", {})),
                store=StoreConfig(**raw.get("store", {})),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: missing or unknown setting ({exc})") from None
        try:
            check_limits(cfg)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
        if cfg.role not in ("validator", "observer"):
            raise ConfigError(f"{path}: node.role must be 'validator' or 'observer'")
        for what, port in (("rpc.port", cfg.rpc.port), ("p2p.port", cfg.p2p.port)):
            if not isinstance(port, int) or not 0 <= port < 65536:
                raise ConfigError(f"{path}: {what} must be 0..65535")
        cfg.log.check(path)
        if cfg.sync.mode not in ("full", "snapshot"):
            raise ConfigError(f"{path}: sync.mode must be 'full' or 'snapshot'")
        min_blocks = cfg.sync.snapshot_min_blocks
        if not isinstance(min_blocks, int) or isinstance(min_blocks, bool) or min_blocks < 1:
            raise ConfigError(f"{path}: sync.snapshot_min_blocks must be a positive integer")
        history = cfg.store.state_history_blocks
        if not isinstance(history, int) or isinstance(history, bool) or history < 0:
            raise ConfigError(f"{path}: store.state_history_blocks must be 0 (archival) or a positive number of blocks")
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


# (setting, smallest, largest) of every connection limit; seconds may be fractional.
_COUNTS = (
    ("rpc.max_connections", 1, 1_000_000), ("rpc.max_pending", 1, 1_000_000), ("rpc.max_pending_per_ip", 1, 1_000_000),
    ("p2p.max_pending", 1, 100_000), ("p2p.max_pending_per_ip", 1, 100_000),
    ("limits.open_files", 0, 1 << 30), ("limits.fd_reserve", 16, 1 << 20),
)
_SECONDS = (
    ("rpc.handshake_timeout", 0.1, 600.0), ("p2p.handshake_timeout", 0.1, 600.0),
    ("p2p.keepalive_interval", 0.05, 600.0), ("p2p.idle_timeout", 0.1, 3600.0), ("limits.log_interval", 0.1, 3600.0),
)
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



def _setting(cfg: NodeConfig, name: str) -> object:
    section, key = name.split(".")
    return getattr(getattr(cfg, section), key)


def check_limits(cfg: NodeConfig) -> None:
    """ConfigError naming the first connection limit that is out of range or inconsistent."""
    for name, low, high in _COUNTS:
        value = _setting(cfg, name)
        if type(value) is not int or not low <= value <= high:
            raise ConfigError(f"{name} must be an integer from {low} to {high} (got {value!r})")
    for name, low_s, high_s in _SECONDS:
        value = _setting(cfg, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not low_s <= value <= high_s:
            raise ConfigError(f"{name} must be a number of seconds from {low_s} to {high_s} (got {value!r})")
    if cfg.p2p.idle_timeout < 2 * cfg.p2p.keepalive_interval:
        raise ConfigError("p2p.idle_timeout must be at least twice p2p.keepalive_interval (a link would close between pings)")
    for section, per_ip, total in (("rpc", cfg.rpc.max_pending_per_ip, cfg.rpc.max_pending),
                                   ("p2p", cfg.p2p.max_pending_per_ip, cfg.p2p.max_pending)):
        if per_ip > total:
            raise ConfigError(f"{section}.max_pending_per_ip must not exceed {section}.max_pending")
