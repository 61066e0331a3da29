"""System configuration: the chain parameters every node reads from state, never from local config.

A parameter set by a transaction in block h takes effect from block h+1 on every node, because
nodes read parameters from the committed state of the parent block. Until the governance
committee exists, ``set`` is allowed to the admin accounts named in genesis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, method, require_arg, system_address
from node.state import StateReader


@dataclass(frozen=True)
class ParamSpec:
    default: int
    minimum: int
    maximum: int
    doc: str


PARAMS: dict[str, ParamSpec] = {
    "block_tx_limit": ParamSpec(2_000, 1, 50_000, "most transactions in one block"),
    "block_interval_ms": ParamSpec(1_000, 10, 600_000, "an empty block is sealed after this long without transactions"),
    "min_seal_ms": ParamSpec(20, 0, 10_000, "wait this long after the first pending transaction to fill a block"),
    "tx_expiry_window": ParamSpec(600, 1, 1_000_000, "a transaction's expiry_height may be at most this far ahead"),
    "max_tx_bytes": ParamSpec(512 * 1024, 1_024, 1024 * 1024, "largest encoded transaction accepted"),
    "consensus_timeout_ms": ParamSpec(3_000, 100, 600_000, "consensus round timeout before a view change"),
    "max_code_bytes": ParamSpec(512 * 1024, 1_024, 1024 * 1024, "largest contract code accepted at deploy"),
    "pbft_window": ParamSpec(4, 1, 32, "PBFT heights in flight at once (pipelining); 1 decides one height at a time"),
    "max_tx_fuel": ParamSpec(500_000_000, 100_000, 10_000_000_000, "highest fuel_limit a transaction may set"),
}

SYSCONFIG_ADDRESS = system_address(0x1000)
_PARAM = b"param/"
_ADMIN = b"admin/"
_NODE = b"node/"


def param_key(name: str) -> bytes:
    return SYSCONFIG_ADDRESS + _PARAM + name.encode()


def admin_key(address: bytes) -> bytes:
    return SYSCONFIG_ADDRESS + _ADMIN + address


NODE_PREFIX = SYSCONFIG_ADDRESS + _NODE  # state keys of the node list: NODE_PREFIX + public key


def node_key(pubkey: bytes) -> bytes:
    return NODE_PREFIX + pubkey


@dataclass(frozen=True)
class NodeRecord:
    """One entry of the on-chain node list (validators and observers)."""

    pubkey: bytes
    name: str
    role: str
    host: str
    p2p_port: int

    def encode(self) -> bytes:
        return msgpack.packb({"name": self.name, "role": self.role, "host": self.host, "p2p_port": self.p2p_port})

    @classmethod
    def decode(cls, pubkey: bytes, raw: bytes) -> NodeRecord:
        m = msgpack.unpackb(raw)
        return cls(pubkey=pubkey, name=str(m.get("name", "")), role=str(m.get("role", "")), host=str(m.get("host", "")),
                   p2p_port=int(m.get("p2p_port", 0)))


def read_nodes(items: Iterable[tuple[bytes, bytes]]) -> list[NodeRecord]:
    """The node list from the state entries under ``NODE_PREFIX`` (as a store's prefix scan yields them)."""
    return [NodeRecord.decode(key[len(NODE_PREFIX):], value) for key, value in items]


def validator_keys(nodes: Iterable[NodeRecord]) -> list[bytes]:
    """Validator public keys in the fixed order every engine uses (sorted)."""
    return sorted(n.pubkey for n in nodes if n.role == "validator")


@dataclass(frozen=True)
class ChainParams:
    block_tx_limit: int
    block_interval_ms: int
    min_seal_ms: int
    tx_expiry_window: int
    max_tx_bytes: int
    consensus_timeout_ms: int
    max_code_bytes: int
    pbft_window: int
    max_tx_fuel: int

    @classmethod
    def read(cls, state: StateReader) -> ChainParams:
        values = {}
        for name, spec in PARAMS.items():
            raw = state.get(param_key(name))
            values[name] = spec.default if raw is None else msgpack.unpackb(raw)
        return cls(**values)


def validate_param(name: str, value: Any) -> int:
    spec = PARAMS.get(name)
    if spec is None:
        raise Revert(f"unknown parameter '{name}' (known: {', '.join(sorted(PARAMS))})")
    if not isinstance(value, int) or isinstance(value, bool):
        raise Revert(f"parameter '{name}' must be an integer")
    if not spec.minimum <= value <= spec.maximum:
        raise Revert(f"parameter '{name}' must be between {spec.minimum} and {spec.maximum}")
    return value


class SysConfig(SystemContract):
    address = SYSCONFIG_ADDRESS
    name = "sysconfig"

    @method(read_only=True)
    def get(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        name = require_arg(args, "key", str)
        if name not in PARAMS:
            raise Revert(f"unknown parameter '{name}'")
        raw = ctx.storage_get(_PARAM + name.encode())
        return PARAMS[name].default if raw is None else msgpack.unpackb(raw)

    @method(read_only=True)
    def list(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        out = {}
        for name, spec in PARAMS.items():
            raw = ctx.storage_get(_PARAM + name.encode())
            out[name] = spec.default if raw is None else msgpack.unpackb(raw)
        return out

    @method(read_only=True)
    def is_admin(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        address = require_arg(args, "address", bytes)
        return ctx.storage_get(_ADMIN + address) is not None

    @method(read_only=False)
    def set(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        if ctx.storage_get(_ADMIN + ctx.sender) is None:
            raise Revert("only a chain admin may change system parameters")
        name = require_arg(args, "key", str)
        value = validate_param(name, args.get("value"))
        ctx.storage_set(_PARAM + name.encode(), msgpack.packb(value))
        ctx.emit("ParamChanged", msgpack.packb({"key": name, "value": value, "effective_height": ctx.block.height + 1}))
        return {"key": name, "value": value, "effective_height": ctx.block.height + 1}
