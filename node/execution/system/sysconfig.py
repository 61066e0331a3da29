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

from node.errors import ChainParamError
from node.execution.context import CallContext, Revert
from node.execution.system.base import SystemContract, method, require_arg
from node.params import PARAMS, SYSCONFIG_ADDRESS, ChainParams, check_consistency, param_storage_key, param_value, validate_param
from node.wire import codec

_ADMIN = b"admin/"
_NODE = b"node/"


def admin_key(address: bytes) -> bytes:
    return SYSCONFIG_ADDRESS + _ADMIN + address


NODE_PREFIX = SYSCONFIG_ADDRESS + _NODE  # state keys of the node list: NODE_PREFIX + public key
_VALIDATOR_COUNT = b"validator_count"  # kept beside the node list: parameter checks need it without a scan
VALIDATOR_COUNT_KEY = SYSCONFIG_ADDRESS + _VALIDATOR_COUNT


def encode_count(n: int) -> bytes:
    return msgpack.packb(n)


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


class SysConfig(SystemContract):
    address = SYSCONFIG_ADDRESS
    name = "sysconfig"

    @staticmethod
    def _params_with(ctx: CallContext, changed: str, value: int) -> ChainParams:
        """The parameters as they would be after setting ``changed`` to ``value``."""
        current = {name: param_value(name, ctx.storage_get(param_storage_key(name))) for name in PARAMS}
        return ChainParams(**{**current, changed: value})

    @staticmethod
    def _validator_count(ctx: CallContext) -> int:
        raw = ctx.storage_get(_VALIDATOR_COUNT)
        return 1 if raw is None else int(msgpack.unpackb(raw))

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
    def is_admin(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        address = require_arg(args, "address", bytes)
        return ctx.storage_get(_ADMIN + address) is not None

    @method(read_only=False)
    def set(self, ctx: CallContext, args: dict[str, Any]) -> Any:
        if ctx.storage_get(_ADMIN + ctx.sender) is None:
            raise Revert("only a chain admin may change system parameters")
        name = require_arg(args, "key", str)
        try:
            value = validate_param(name, args.get("value"))
            check_consistency(self._params_with(ctx, name, value), self._validator_count(ctx))
        except ChainParamError as exc:
            raise Revert(exc.message) from None  # a bad value fails the transaction, not the node
        ctx.storage_set(param_storage_key(name), msgpack.packb(value))
        change = {"key": name, "value": value, "effective_height": ctx.block.height + 1}
        # Event data is stored in receipts and hashed into receipt_root: canonical, like every stored encoding.
        ctx.emit("ParamChanged", codec.encode(change))
        return change
