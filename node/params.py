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
    "max_tx_bytes": ParamSpec(640 * 1024, 1_024, 1024 * 1024, "largest encoded transaction accepted"),
    "consensus_timeout_ms": ParamSpec(3_000, 100, 600_000, "consensus round timeout before a view change"),
    "max_code_bytes": ParamSpec(512 * 1024, 1_024, 1024 * 1024, "largest contract code accepted at deploy"),
    "pbft_window": ParamSpec(4, 1, 32, "PBFT heights in flight at once (pipelining); 1 decides one height at a time"),
    "pbft_pipeline_min_txs": ParamSpec(1, 1, 50_000, "while a block of the primary's is in flight, the next is proposed "
                                                     "only once this many transactions wait for it"),
    "max_tx_fuel": ParamSpec(500_000_000, 100_000, 10_000_000_000, "highest fuel_limit a transaction may set"),
    "max_block_bytes": ParamSpec(2 * 1024 * 1024, 64 * 1024, 32 * 1024 * 1024,
                                 "most bytes of encoded transactions in one block"),
}

# --- how the limits fit together ---------------------------------------------------------------
#
# A contract's code travels in a deploy transaction, a transaction in a block, a block in
# consensus messages and in catch-up batches, and all of those in one peer-to-peer frame. The
# limits are checked against each other at genesis and at every parameter change, and the frame
# limit is derived from them, so no value a client or an admin may choose can produce a block
# that the network cannot carry.

DEPLOY_TX_OVERHEAD = 2_048  # a deploy transaction's bytes besides its code: fields, key, signature, framing
VOTE_BYTES = 300  # one signed vote inside a certificate (key, signature, framing), generously
MESSAGE_OVERHEAD = 1_024  # a message's own fields around what it carries
CATCHUP_BLOCKS = 4  # a catch-up batch carries at most this many blocks' worth of bytes (at least one block)
MAX_FRAME_CEILING = 256 * 1024 * 1024  # no parameter choice may make a peer accept frames larger than this


def block_envelope_bytes(params: ChainParams) -> int:
    """The most an encoded block can take: its transactions, their framing and its header."""
    return params.max_block_bytes + 8 * params.block_tx_limit + MESSAGE_OVERHEAD


def largest_frame_bytes(params: ChainParams, validators: int) -> int:
    """The largest peer-to-peer frame an honest node sends under ``params`` with ``validators``
    validators. The largest is PBFT's NEW-VIEW: 2f+1 view changes, each carrying a prepared
    certificate (a block and 2f+1 votes) for every height in the window. A catch-up batch
    carries up to ``CATCHUP_BLOCKS`` blocks with their certificates; a forwarded batch of
    transactions is at most one block's worth."""
    quorum = validators - (validators - 1) // 3
    certificate = block_envelope_bytes(params) + quorum * VOTE_BYTES + MESSAGE_OVERHEAD
    view_change = params.pbft_window * certificate + MESSAGE_OVERHEAD
    new_view = quorum * view_change + MESSAGE_OVERHEAD
    catch_up = CATCHUP_BLOCKS * (block_envelope_bytes(params) + validators * VOTE_BYTES) + MESSAGE_OVERHEAD
    forward = params.max_block_bytes + 8 * params.block_tx_limit + MESSAGE_OVERHEAD
    return max(new_view, catch_up, forward) + MESSAGE_OVERHEAD


def check_consistency(params: ChainParams, validators: int) -> None:
    """Raise ChainParamError if the limits contradict each other (see the comment above)."""
    if params.max_code_bytes + DEPLOY_TX_OVERHEAD > params.max_tx_bytes:
        raise ChainParamError(
            f"max_code_bytes ({params.max_code_bytes}) plus a deploy transaction's own {DEPLOY_TX_OVERHEAD} bytes "
            f"exceeds max_tx_bytes ({params.max_tx_bytes}): contracts of the largest allowed size could never be deployed"
        )
    if params.max_tx_bytes > params.max_block_bytes:
        raise ChainParamError(
            f"max_tx_bytes ({params.max_tx_bytes}) exceeds max_block_bytes ({params.max_block_bytes}): "
            "the largest allowed transaction would fit in no block"
        )
    frame = largest_frame_bytes(params, max(1, validators))
    if frame > MAX_FRAME_CEILING:
        raise ChainParamError(
            f"with {validators} validators, max_block_bytes {params.max_block_bytes}, block_tx_limit "
            f"{params.block_tx_limit} and pbft_window {params.pbft_window}, the largest consensus message would be "
            f"{frame} bytes, over the {MAX_FRAME_CEILING}-byte ceiling: lower max_block_bytes or pbft_window"
        )


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
    pbft_pipeline_min_txs: int
    max_tx_fuel: int
    max_block_bytes: int

    @classmethod
    def read(cls, state: StateReader) -> ChainParams:
        return cls(**{name: param_value(name, state.get(param_key(name))) for name in PARAMS})
