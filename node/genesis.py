"""Genesis: the chain's identity (chain id, crypto suite, consensus engine) and its initial state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from consensus.registry import ENGINES
from node.crypto import SUITES, get_suite
from node.errors import ChainParamError, ConfigError, ConsortiaError
from node.execution.system import committee as gov
from node.execution.system.acl import FLAG, deploy_key, role_count_key, role_key
from node.execution.system.acl import ROLES as ACCOUNT_ROLES
from node.execution.system.sysconfig import ENGINE_KEY, VALIDATOR_COUNT_KEY, NodeRecord, encode_count, node_key
from node.merkle import merkle_root
from node.params import PARAMS, ChainParams, check_consistency, param_key, validate_param
from node.statetree import EMPTY_ROOT, TreeUpdate
from node.statetree import update as update_tree
from node.wire import codec
from node.wire.types import CHAIN_ID_RE, Block, BlockHeader

CONSENSUS_ENGINES = tuple(ENGINES)
ROLES = ("validator", "observer")


@dataclass(frozen=True)
class GenesisNode:
    name: str
    role: str
    pubkey: bytes
    host: str
    p2p_port: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "pubkey": "0x" + self.pubkey.hex(), "host": self.host, "p2p_port": self.p2p_port}


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    suite: str
    consensus: str
    timestamp_ms: int
    nodes: tuple[GenesisNode, ...]
    admins: tuple[bytes, ...]
    params: dict[str, int] = field(default_factory=dict)
    roles: dict[str, tuple[bytes, ...]] = field(default_factory=dict)  # account role -> holders (node.execution.system.acl)
    # The governance committee: member address -> weight. None: every admin with weight 1.
    committee: dict[bytes, int] | None = None
    participation_rate: int = gov.DEFAULT_PARTICIPATION
    win_rate: int = gov.DEFAULT_WIN
    # Accounts that may deploy contracts from block 1. None: the admins.
    deployers: tuple[bytes, ...] | None = None

    @property
    def _custom_rates(self) -> bool:
        return (self.participation_rate, self.win_rate) != (gov.DEFAULT_PARTICIPATION, gov.DEFAULT_WIN)

    def _committee_json(self) -> dict[str, Any]:
        """The ``committee`` member of genesis.json: members only when listed explicitly (absent:
        every admin with weight 1), the rates always, so a file round-trips to the same genesis."""
        body: dict[str, Any] = {}
        if self.committee is not None:
            body["members"] = [{"address": "0x" + a.hex(), "weight": w} for a, w in sorted(self.committee.items())]
        body["participation_rate"], body["win_rate"] = self.participation_rate, self.win_rate
        return body

    @property
    def committee_members(self) -> dict[bytes, int]:
        return dict(self.committee) if self.committee is not None else {a: 1 for a in self.admins}

    @property
    def deploy_accounts(self) -> tuple[bytes, ...]:
        return self.deployers if self.deployers is not None else self.admins

    @property
    def validators(self) -> list[GenesisNode]:
        return [n for n in self.nodes if n.role == "validator"]

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "suite": self.suite,
            "consensus": self.consensus,
            "timestamp_ms": self.timestamp_ms,
            "nodes": [n.to_json() for n in self.nodes],
            "admins": ["0x" + a.hex() for a in self.admins],
            "params": dict(sorted(self.params.items())),
            **({"roles": {role: ["0x" + a.hex() for a in holders] for role, holders in sorted(self.roles.items())}}
               if self.roles else {}),
            **({"committee": self._committee_json()} if self.committee is not None or self._custom_rates else {}),
            **({"deployers": ["0x" + a.hex() for a in self.deployers]} if self.deployers is not None else {}),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"genesis file {path} not found") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"genesis file {path} is not valid JSON: {exc}") from None
        return cls.from_json(raw, source=str(path))

    @classmethod
    def from_json(cls, raw: Any, source: str = "genesis") -> Genesis:
        try:
            return _parse(raw)
        except ConsortiaError as exc:
            raise ConfigError(f"{source}: {exc.message}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source}: invalid genesis ({exc.__class__.__name__}: {exc})") from None

    def initial_writes(self) -> dict[bytes, bytes | None]:
        writes: dict[bytes, bytes | None] = {}
        for name, value in self.params.items():
            writes[param_key(name)] = msgpack.packb(value)
        writes[ENGINE_KEY] = codec.encode(self.consensus)
        rates = gov.Rates(self.participation_rate, self.win_rate)
        writes.update(gov.genesis_writes(self.committee_members, rates))
        for address in self.deploy_accounts:
            writes[deploy_key(address)] = FLAG
        for node in self.nodes:
            record = NodeRecord(pubkey=node.pubkey, name=node.name, role=node.role, host=node.host, p2p_port=node.p2p_port)
            writes[node_key(node.pubkey)] = record.encode()
        writes[VALIDATOR_COUNT_KEY] = encode_count(len(self.validators))
        for role, holders in self.roles.items():
            for holder in holders:
                writes[role_key(role, holder)] = FLAG
            writes[role_count_key(role)] = codec.encode(len(holders))
        return writes

    def chain_params(self) -> ChainParams:
        """The parameters in force for block 1: genesis values over the defaults."""
        return ChainParams(**{name: self.params.get(name, spec.default) for name, spec in PARAMS.items()})

    def check_params(self) -> None:
        """The genesis parameters must fit together (``node.params.check_consistency``)."""
        try:
            check_consistency(self.chain_params(), len(self.validators))
        except ChainParamError as exc:
            raise ConfigError(f"genesis parameters: {exc.message}") from None

    def state_tree(self) -> TreeUpdate:
        """The state tree of the initial state: its root is genesis's ``state_root``, its nodes are
        committed with the genesis block."""
        return update_tree(get_suite(self.suite).hash, {}, EMPTY_ROOT, self.initial_writes())

    def block(self) -> tuple[Block, dict[bytes, bytes | None]]:
        """The height-0 block and the state writes it commits."""
        self.check_params()
        suite = get_suite(self.suite)
        writes = self.initial_writes()
        empty = merkle_root(suite.hash, [])
        header = BlockHeader(
            chain_id=self.chain_id,
            height=0,
            parent_hash=bytes(32),
            timestamp_ms=self.timestamp_ms,
            proposer=b"",
            view=0,
            tx_count=0,
            tx_root=empty,
            receipt_root=empty,
            state_root=self.state_tree().root,
        )
        return Block(header=header, txs=()), writes


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConfigError(f"{what} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"{what} is not valid hex") from None


def _parse(raw: Any) -> Genesis:
    if not isinstance(raw, dict):
        raise ConfigError("genesis must be a JSON object")
    known = {"chain_id", "suite", "consensus", "timestamp_ms", "nodes", "admins", "params", "roles", "committee", "deployers"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown genesis fields {sorted(unknown)}")
    chain_id = raw["chain_id"]
    if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
        raise ConfigError("chain_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    suite_name = raw["suite"]
    if suite_name not in SUITES:
        raise ConfigError(f"suite must be one of {', '.join(SUITES)}")
    suite = get_suite(suite_name)
    consensus = raw["consensus"]
    if consensus not in CONSENSUS_ENGINES:
        raise ConfigError(f"consensus must be one of {', '.join(CONSENSUS_ENGINES)}")
    ts = raw.get("timestamp_ms", 0)
    if not isinstance(ts, int) or ts < 0:
        raise ConfigError("timestamp_ms must be a non-negative integer")
    nodes = []
    names = set()
    keys = set()
    for entry in raw["nodes"]:
        pub = _hex_bytes(entry["pubkey"], f"node {entry.get('name')!r} pubkey")
        suite.validate_public_key(pub)
        if entry["role"] not in ROLES:
            raise ConfigError(f"node {entry['name']!r}: role must be validator or observer")
        port = entry["p2p_port"]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"node {entry['name']!r}: p2p_port must be 1..65535")
        if entry["name"] in names or pub in keys:
            raise ConfigError(f"node {entry['name']!r} is listed twice")
        names.add(entry["name"])
        keys.add(pub)
        nodes.append(GenesisNode(name=str(entry["name"]), role=entry["role"], pubkey=pub, host=str(entry["host"]), p2p_port=port))
    if not any(n.role == "validator" for n in nodes):
        raise ConfigError("genesis needs at least one validator")
    admins = tuple(_hex_bytes(a, "admin address") for a in raw.get("admins", []))
    for a in admins:
        if len(a) != 20:
            raise ConfigError("admin addresses are 20 bytes")
    params = {}
    for name, value in dict(raw.get("params", {})).items():
        if name not in PARAMS:
            raise ConfigError(f"unknown parameter {name!r}")
        try:
            params[name] = validate_param(name, value)
        except ConsortiaError as exc:
            raise ConfigError(exc.message) from None
    roles = _parse_roles(raw.get("roles", {}))
    members, participation, win = _parse_committee(raw.get("committee"))
    deployers = None if raw.get("deployers") is None else _parse_addresses(raw["deployers"], "deployers")
    if not (members if members is not None else admins):
        raise ConfigError("genesis needs at least one committee member (committee.members, or admins when it is absent)")
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite_name,
        consensus=consensus,
        timestamp_ms=ts,
        nodes=tuple(nodes),
        admins=admins,
        params=params,
        roles=roles,
        committee=members,
        participation_rate=participation,
        win_rate=win,
        deployers=deployers,
    )
    genesis.check_params()
    return genesis


def _parse_roles(raw: Any) -> dict[str, tuple[bytes, ...]]:
    """``{"regulator": ["0x<address>", ...], ...}``: account roles held from block 0."""
    if not isinstance(raw, dict):
        raise ConfigError("roles must be an object mapping a role name to a list of addresses")
    roles: dict[str, tuple[bytes, ...]] = {}
    for role, holders in raw.items():
        if role not in ACCOUNT_ROLES:
            raise ConfigError(f"unknown role {role!r} (known: {', '.join(ACCOUNT_ROLES)})")
        if not isinstance(holders, list):
            raise ConfigError(f"roles.{role} must be a list of addresses")
        addresses = tuple(_hex_bytes(a, f"roles.{role} address") for a in holders)
        if any(len(a) != 20 for a in addresses) or len(set(addresses)) != len(addresses):
            raise ConfigError(f"roles.{role}: addresses are 20 bytes and listed once")
        if addresses:
            roles[role] = addresses
    return roles


def _parse_addresses(raw: Any, what: str) -> tuple[bytes, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{what} must be a list of addresses")
    addresses = tuple(_hex_bytes(a, f"{what} address") for a in raw)
    if any(len(a) != 20 for a in addresses) or len(set(addresses)) != len(addresses):
        raise ConfigError(f"{what}: addresses are 20 bytes and listed once")
    return addresses


def _parse_committee(raw: Any) -> tuple[dict[bytes, int] | None, int, int]:
    """``{"members": [{"address": "0x..", "weight": 1}, ...], "participation_rate": 51, "win_rate": 51}``."""
    if raw is None:
        return None, gov.DEFAULT_PARTICIPATION, gov.DEFAULT_WIN
    if not isinstance(raw, dict) or set(raw) - {"members", "participation_rate", "win_rate"}:
        raise ConfigError("committee must be an object with members, participation_rate and win_rate")
    entries = raw.get("members")
    members: dict[bytes, int] | None = None  # no members listed: every admin with weight 1, at these rates
    if entries is not None and (not isinstance(entries, list) or not entries):
        raise ConfigError("committee.members must be a non-empty list of {address, weight}")
    if entries is not None and len(entries) > gov.MAX_MEMBERS:
        raise ConfigError(f"committee.members: at most {gov.MAX_MEMBERS} members")
    if entries is not None:
        members = {}
    for entry in entries or ():
        assert members is not None
        if not isinstance(entry, dict) or set(entry) != {"address", "weight"}:
            raise ConfigError("committee.members entries are {address, weight}")
        address = _hex_bytes(entry["address"], "committee member address")
        weight = entry["weight"]
        if len(address) != 20 or address in members:
            raise ConfigError("committee.members: addresses are 20 bytes and listed once")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= gov.MAX_WEIGHT:
            raise ConfigError(f"committee.members: weight must be an integer 1..{gov.MAX_WEIGHT}")
        members[address] = weight
    try:
        rates = gov.check_rates(raw.get("participation_rate", gov.DEFAULT_PARTICIPATION),
                                      raw.get("win_rate", gov.DEFAULT_WIN))
    except ConsortiaError as exc:
        raise ConfigError(f"committee: {exc.message}") from None
    return members, rates.participation, rates.win
