"""Every check of a node home before it runs, each problem one line, all of them at once.

An operator who fixes one problem only to meet the next on the following start loses an hour per
round; ``consortia node check`` and ``node run`` therefore collect every problem they can find
(config keys and types, key files and passphrase, certificates against the CA and the node's
key, the genesis against the database, free disk, ports) and report them together. Each line
names the file or setting and what is wrong with it.
"""

from __future__ import annotations

import errno
import shutil
import socket
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from node.config import CONFIG_FILE, DATA_DIR, GENESIS_FILE, KEY_FILE, NodeConfig
from node.crypto import get_suite
from node.errors import ConsortiaError
from node.genesis import Genesis
from node.keyfile import PassphraseSource, check_private, key_info, load_key
from node.p2p.certs import CA_CERT, NODE_CERT, NODE_KEY, TLS_DIR
from node.p2p.enrol import check_node_cert
from node.p2p.tlskey import decode, is_encrypted, open_tls_key
from node.store.chainstore import ChainStore

MIN_FREE_BYTES = 256 * 1024 * 1024  # below this a node may fill its disk within hours
LOW_FREE_BYTES = 2 * 1024 * 1024 * 1024


@dataclass
class Findings:
    """What the checks found: ``errors`` stop a node from starting, ``warnings`` do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def good(self, text: str) -> None:
        self.ok.append(text)


# --- config.toml: sections, keys and types, every one ------------------------------------------

def _schema() -> dict[str, dict[str, Any]]:
    """Section -> key -> default value, from the config dataclasses (the one definition)."""
    sections: dict[str, dict[str, Any]] = {"node": {"name": "", "role": "", "log_level": "info"}}
    for f in fields(NodeConfig):
        if f.default_factory is MISSING:
            continue
        section = f.default_factory()
        sections[f.name] = {g.name: getattr(section, g.name) for g in fields(section)}
    return sections


def _type_name(value: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(type(value), type(value).__name__)


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def config_problems(path: Path) -> list[str]:
    """Unknown sections and keys and values of the wrong type in ``config.toml``, every one."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return [f"{path} not found (is {path.parent} a node home?)"]
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [f"{path} is not valid TOML: {exc}"]
    schema, problems = _schema(), []
    for section, body in raw.items():
        if section not in schema:
            problems.append(f"{path}: unknown section [{section}] (known: {', '.join(sorted(schema))})")
            continue
        if not isinstance(body, dict):
            problems.append(f"{path}: {section} must be a section ([{section}])")
            continue
        for key, value in body.items():
            if key not in schema[section]:
                problems.append(f"{path}: unknown setting {section}.{key}")
            elif not _type_ok(schema[section][key], value):
                problems.append(f"{path}: {section}.{key} must be {_type_name(schema[section][key])} (got {value!r})")
    for key in ("name", "role"):
        if key not in raw.get("node", {}):
            problems.append(f"{path}: missing setting node.{key}")
    return problems


# --- the checks ----------------------------------------------------------------------------------

def _port_free(host: str, port: int) -> str | None:
    """None if ``host:port`` can be bound now, else why not."""
    if port == 0:
        return None
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "is in use by another process"
        return f"cannot be bound ({exc.strerror or exc})"
    return None


def _database(home: Path, genesis: Genesis, found: Findings, *, starting: bool) -> bool:
    """Compare the database's genesis with genesis.json; False if another process holds it (an
    error when ``starting``: this node would be a second one on the same home)."""
    data = home / DATA_DIR
    if not data.exists() or not any(data.iterdir()):
        found.good(f"database {data}: none yet (created at first start)")
        return True
    try:
        store = ChainStore(data, create=False)
    except ConsortiaError as exc:
        if "locked by another process" in exc.message:
            if starting:
                found.error(exc.message)
            else:
                found.warn(f"database {data} is in use: the node is running (genesis and ports not compared)")
            return False
        found.error(exc.message)
        return True
    try:
        block, _ = genesis.block()
        expected = get_suite(genesis.suite).hash(block.header.encode())
        if store.get_block_hash(0) != expected:
            found.error(f"database {data} belongs to a different chain (its genesis hash differs from {home / GENESIS_FILE})")
        else:
            found.good(f"database {data}: chain '{genesis.chain_id}' at height {store.head_height}")
    except ConsortiaError as exc:
        found.error(exc.message)
    finally:
        store.close()
    return True


@dataclass(frozen=True)
class _NodeKeyCheck:
    """What the node-key check learnt that the TLS-key check needs."""

    public_key: bytes
    encrypted: bool
    passphrase_failed: bool  # its passphrase was wrong or missing (already reported: not repeated for the TLS key)


def _tls_key(home: Path, path: Path, node_key: _NodeKeyCheck | None, passphrase: PassphraseSource | None,
             found: Findings) -> ec.EllipticCurvePublicKey | None:
    """The TLS key's public half, once it opened; None (with a line saying why) if it did not."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        found.error(f"TLS key file {path}: {exc.strerror or exc}")
        return None
    if not is_encrypted(pem):
        try:
            key = decode(pem, None, path)
        except ConsortiaError as exc:
            found.error(exc.message)
            return None
        if node_key is not None and node_key.encrypted:
            found.warn(f"{path} is plaintext while {home / KEY_FILE} is encrypted: seal it with "
                       f"'consortia key encrypt-tls --home {home}'")
        return key.public_key()
    if passphrase is None:
        found.warn(f"{path} is encrypted: its passphrase was not checked, nor that {NODE_CERT} is for it (give --passphrase-file)")
        return None
    if node_key is not None and node_key.encrypted and node_key.passphrase_failed:
        return None  # the same passphrase already failed for node.key: one line is enough
    try:
        opened = open_tls_key(path, home, passphrase)
    except ConsortiaError as exc:
        found.error(exc.message)
        return None
    found.good(f"TLS key file {path}: encrypted, passphrase correct")
    return opened.key.public_key()


def _certificates(home: Path, config: NodeConfig | None, node_key: _NodeKeyCheck | None, passphrase: PassphraseSource | None,
                  found: Findings) -> None:
    tls = home / TLS_DIR
    paths = {name: tls / name for name in (CA_CERT, NODE_CERT, NODE_KEY)}
    missing = [p for p in paths.values() if not p.exists()]
    for p in missing:
        found.error(f"{p} is missing (net init / net add-node issue it; from another host: node init, ca sign, node install-cert)")
    if missing:
        return
    try:
        check_private(paths[NODE_KEY], "TLS key file")
    except ConsortiaError as exc:
        found.error(exc.message)
    tls_public = _tls_key(home, paths[NODE_KEY], node_key, passphrase, found)
    if node_key is None:
        return
    try:
        name = check_node_cert(paths[NODE_CERT].read_bytes(), paths[CA_CERT].read_bytes(), tls_public, node_key.public_key)
    except ConsortiaError as exc:
        found.error(f"{paths[NODE_CERT]}: {exc.message}")
        return
    if config is not None and name != config.name:
        found.error(f"{paths[NODE_CERT]} is for node '{name}' but {home / CONFIG_FILE} says node.name = '{config.name}'")
    else:
        keys = "for this node's keys" if tls_public is not None else "for this node's chain key (TLS key not opened)"
        found.good(f"certificate {paths[NODE_CERT]}: node '{name}', signed by the consortium CA, {keys}")


def _keys(home: Path, genesis: Genesis | None, passphrase: PassphraseSource | None, found: Findings) -> _NodeKeyCheck | None:
    path = home / KEY_FILE
    try:
        info = key_info(path)
    except ConsortiaError as exc:
        found.error(exc.message)
        return None
    try:
        check_private(path)
    except ConsortiaError as exc:
        found.error(exc.message)
        # the certificates can still be checked against the public half
        return _NodeKeyCheck(info.public_key, info.encrypted, passphrase_failed=False)
    if genesis is not None and info.suite != genesis.suite:
        found.error(f"{path} is a '{info.suite}' key but the chain uses the '{genesis.suite}' suite")
    failed = False
    if info.encrypted and passphrase is None:
        found.warn(f"{path} is encrypted: its passphrase was not checked (give --passphrase-file)")
    else:
        try:
            load_key(path, passphrase)
            found.good(f"key file {path}: {info.suite}, {'encrypted, passphrase correct' if info.encrypted else 'plaintext'}")
        except ConsortiaError as exc:
            found.error(exc.message)
            failed = True
    return _NodeKeyCheck(info.public_key, info.encrypted, passphrase_failed=failed)


def check_home(home: Path, passphrase: PassphraseSource | None = None, *, starting: bool = False,
               disk: Callable[[Path], Any] = shutil.disk_usage) -> Findings:
    """Every problem of the node home at ``home`` that can be found without starting the node.

    ``starting``: ``node run`` asks before it opens anything: a database held by another process
    is then an error (and the only one reported, since that process explains the busy ports)."""
    found = Findings()
    if not home.is_dir():
        found.error(f"node home {home} does not exist")
        return found
    config: NodeConfig | None = None
    problems = config_problems(home / CONFIG_FILE)
    for line in problems:
        found.error(line)
    if not problems:
        try:
            config = NodeConfig.load(home)
            found.good(f"config {home / CONFIG_FILE}: node '{config.name}', {config.role}")
        except ConsortiaError as exc:
            found.error(exc.message)
    genesis: Genesis | None = None
    try:
        genesis = Genesis.load(home / GENESIS_FILE)
    except ConsortiaError as exc:
        found.error(exc.message)
    node_key = _keys(home, genesis, passphrase, found)
    _certificates(home, config, node_key, passphrase, found)
    running = False
    if genesis is not None:
        running = not _database(home, genesis, found, starting=starting)
    if running and starting:
        found.errors[:] = [e for e in found.errors if "locked by another process" in e]
        return found
    if config is not None and not running:
        for what, host, port in (("rpc", config.rpc.host, config.rpc.port), ("p2p", config.p2p.host, config.p2p.port)):
            why = _port_free(host, port)
            if why is not None:
                found.error(f"{home / CONFIG_FILE}: {what}.port {port} on {host} {why}")
    usage = disk(home)
    free = usage.free
    if free < MIN_FREE_BYTES:
        found.error(f"{home}: only {free // (1024 * 1024)} MiB free on its disk; free space before starting the node")
    elif free < LOW_FREE_BYTES:
        found.warn(f"{home}: {free // (1024 * 1024)} MiB free on its disk (a busy node writes gigabytes a day)")
    else:
        found.good(f"disk: {free // (1024 * 1024 * 1024)} GiB free")
    return found


def remembered(source: PassphraseSource) -> PassphraseSource:
    """``source``, asked at most once per key file: the checks and the start both open the key."""
    answers: dict[Path, str] = {}

    def ask(path: Path) -> str:
        if path not in answers:
            answers[path] = source(path)
        return answers[path]

    return ask
