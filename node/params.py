"""Chain parameters: the table of tunable values, where they live in state, and the typed view of them.

Consensus, the pool, the chain and execution all read these, so they sit in a low module that
imports only ``node.errors``; the sysconfig system contract, which changes
them by transaction, builds on this module rather than the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from node.errors import ChainParamError


class StateReader(Protocol):
    """Anything parameters can be read from: committed state, a pending block's state, a snapshot
    (the same shape as ``node.state.StateReader``, declared here so this module stays below it)."""

    def get(self, key: bytes) -> bytes | None: ...

# The sysconfig system contract's address (``system_address(0x1000)``, spelled out because
# node.execution sits above this module); the parameters are stored under it.
SYSCONFIG_ADDRESS = bytes(18) + (0x1000).to_bytes(2, "big")
_PARAM = b"param/"


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


def param_storage_key(name: str) -> bytes:
    """The parameter's key inside sysconfig's storage (what the contract itself reads and writes)."""
    return _PARAM + name.encode()


def param_key(name: str) -> bytes:
    """The parameter's full state key."""
    return SYSCONFIG_ADDRESS + param_storage_key(name)


def param_value(name: str, raw: bytes | None) -> Any:
    """A stored parameter's value, or its default when it was never set."""
    return PARAMS[name].default if raw is None else msgpack.unpackb(raw)


def validate_param(name: str, value: Any) -> int:
    """``value`` if it is an allowed value of parameter ``name``; raises ChainParamError otherwise."""
    spec = PARAMS.get(name)
    if spec is None:
        raise ChainParamError(f"unknown parameter '{name}' (known: {', '.join(sorted(PARAMS))})")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ChainParamError(f"parameter '{name}' must be an integer")
    if not spec.minimum <= value <= spec.maximum:
        raise ChainParamError(f"parameter '{name}' must be between {spec.minimum} and {spec.maximum}")
    return value


@dataclass(frozen=True)
class ChainParams:
    """The parameters in force for a block, read from its parent's state."""

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
        return cls(**{name: param_value(name, state.get(param_key(name))) for name in PARAMS})
