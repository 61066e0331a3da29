"""System configuration: the chain parameters every node reads from state, never from local config.

A parameter set by a transaction in block h takes effect from block h+1 on every node, because
nodes read parameters from the committed state of the parent block. Genesis sets the first
values; after genesis only the governance committee changes them, by executing a passed
``set_param`` proposal through ``set_param`` below, and changes the node list through
``write_node`` and ``remove_node``, which keep ``validator_count`` in step.

Stored layout (under ``SYSCONFIG_ADDRESS``): ``param/<name>`` (msgpack int), ``node/<pubkey>``
(``NodeRecord.encode``), ``validator_count`` (msgpack int), ``engine`` (canonical msgpack str,
the consensus engine named in genesis) and ``nodemeta/<pubkey>`` (canonical map
``{organisation: str, since: int}``; absent for genesis nodes: organisation = name, since = 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import msgpack

from node.errors import ChainParamError
from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, delete_key, method, read_key, require_arg, write_key
from node.params import (
    PARAMS,
    SYSCONFIG_ADDRESS,
    ChainParams,
    check_consistency,
    param_key,
    param_storage_key,
    param_value,
    validate_param,
)
from node.state import StateReader
from node.wire import codec

_NODE = b"node/"
_NODE_META = b"nodemeta/"
ENGINE_KEY = SYSCONFIG_ADDRESS + b"engine"  # the consensus engine, written once by genesis

NODE_PREFIX = SYSCONFIG_ADDRESS + _NODE  # state keys of the node list: NODE_PREFIX + public key
_VALIDATOR_COUNT = b"validator_count"  # kept beside the node list: parameter checks need it without a scan
VALIDATOR_COUNT_KEY = SYSCONFIG_ADDRESS + _VALIDATOR_COUNT


def encode_count(n: int) -> bytes:
    return msgpack.packb(n)


def node_key(pubkey: bytes) -> bytes:
    return NODE_PREFIX + pubkey


def node_meta_key(pubkey: bytes) -> bytes:
    return SYSCONFIG_ADDRESS + _NODE_META + pubkey


@dataclass(frozen=True)
class NodeRecord:
    """One entry of the on-chain node list (validators and observers)."""

    pubkey: bytes
    name: str
    role: str
    host: str
    p2p_port: int

    def encode(self) -> bytes:
        return codec.encode({"name": self.name, "role": self.role, "host": self.host, "p2p_port": self.p2p_port})

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
class NodeMeta:
    """Who runs a node and since which height it holds its current role (kept beside the
    NodeRecord, whose encoding other modules rely on, rather than inside it)."""

    organisation: str
    since: int

    def encode(self) -> bytes:
        return codec.encode({"organisation": self.organisation, "since": self.since})


def read_node(state: StateReader, pubkey: bytes) -> NodeRecord | None:
    raw = state.get(node_key(pubkey))
    return None if raw is None else NodeRecord.decode(pubkey, raw)


def read_node_meta(state: StateReader, record: NodeRecord) -> NodeMeta:
    raw = state.get(node_meta_key(record.pubkey))
    if raw is None:
        return NodeMeta(organisation=record.name, since=0)
    m = codec.decode(raw)
    return NodeMeta(organisation=str(m["organisation"]), since=int(m["since"]))


def validator_count(state: StateReader) -> int:
    raw = state.get(VALIDATOR_COUNT_KEY)
    return 1 if raw is None else int(msgpack.unpackb(raw))


def consensus_engine(state: StateReader) -> str:
    """The engine genesis named ("" for a state written before genesis recorded it)."""
    raw = state.get(ENGINE_KEY)
    return "" if raw is None else str(codec.decode(raw))


def read_params(state: StateReader) -> ChainParams:
    return ChainParams(**{name: param_value(name, state.get(param_key(name))) for name in PARAMS})


# --- the write side: called only by the committee when it executes a passed proposal --------


def check_param(state: StateReader, name: str, value: object) -> int:
    """``value`` if parameter ``name`` may take it now (range and fit with the other limits); else Revert."""
    try:
        checked = validate_param(name, value)
        check_consistency(ChainParams(**{**read_params(state).__dict__, name: checked}), validator_count(state))
    except ChainParamError as exc:
        raise Revert(exc.message) from None
    return checked


def set_param(ctx: CallContext, name: str, value: object) -> dict[str, Any]:
    """Set a parameter; emits ParamChanged. The committee runs the proposal's ``check_param``
    right before, over the same state, so only the value's own range is checked again here."""
    try:
        checked = validate_param(name, value)
    except ChainParamError as exc:
        raise Revert(exc.message) from None
    write_key(ctx, param_key(name), msgpack.packb(checked))
    change = {"key": name, "value": checked, "effective_height": ctx.block.height + 1}
    # Event data is stored in receipts and hashed into receipt_root: canonical, like every stored encoding.
    # Emitted as sysconfig's event whoever runs this: subscribers watch parameters at sysconfig.
    replace(ctx, contract=SYSCONFIG_ADDRESS).emit("ParamChanged", codec.encode(change))
    return change


def write_node(ctx: CallContext, record: NodeRecord, organisation: str) -> None:
    """Add a node or change its role; ``validator_count`` follows, and ``since`` becomes the next height."""
    before = read_node(ctx.state, record.pubkey)
    count = validator_count(ctx.state) + (record.role == "validator") - (before is not None and before.role == "validator")
    write_key(ctx, node_key(record.pubkey), record.encode())
    write_key(ctx, node_meta_key(record.pubkey), NodeMeta(organisation, ctx.block.height + 1).encode())
    write_key(ctx, VALIDATOR_COUNT_KEY, encode_count(count))


def remove_node(ctx: CallContext, pubkey: bytes) -> None:
    """Take a node off the list; ``validator_count`` follows."""
    before = read_node(ctx.state, pubkey)
    if before is None:
        raise Revert(f"node 0x{pubkey.hex()} is not in the node list")
    delete_key(ctx, node_key(pubkey))
    delete_key(ctx, node_meta_key(pubkey))
    if before.role == "validator":
        write_key(ctx, VALIDATOR_COUNT_KEY, encode_count(validator_count(ctx.state) - 1))


class SysConfig(SystemContract):
    """Read-only views of the parameters and the node list."""

    address = SYSCONFIG_ADDRESS
    name = "sysconfig"

    @method(read_only=True)
    def get(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        name = require_arg(args, "key", str)
        if name not in PARAMS:
            raise Revert(f"unknown parameter '{name}'")
        return param_value(name, ctx.storage_get(param_storage_key(name)))

    @method(read_only=True)
    def list(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        return {name: param_value(name, ctx.storage_get(param_storage_key(name))) for name in PARAMS}

    @method(read_only=True)
    def node(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        """One node-list entry with its organisation and since-height, or None."""
        pubkey = require_arg(args, "pubkey", bytes)
        read_key(ctx, node_key(pubkey))
        record = read_node(ctx.state, pubkey)
        if record is None:
            return None
        meta = read_node_meta(ctx.state, record)
        return {"pubkey": pubkey, "name": record.name, "role": record.role, "host": record.host,
                "p2p_port": record.p2p_port, "organisation": meta.organisation, "since": meta.since}
