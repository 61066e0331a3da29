"""One exception hierarchy for the whole node.

Every error a client or peer can provoke is a ``ConsortiaError`` with a stable JSON-RPC code, so the
RPC layer maps it without guessing and the CLI prints one clear line instead of a traceback.
Application codes live in -32000..-32099 (the range JSON-RPC reserves for servers) and are listed in
``docs/json-rpc.md``.
"""

from __future__ import annotations


class ConsortiaError(Exception):
    """Base class: a clear, user-facing error with a JSON-RPC code."""

    code: int = -32603
    kind: str = "internal"

    def __init__(self, message: str, *, data: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


# --- JSON-RPC protocol errors -------------------------------------------------------------


class ParseError(ConsortiaError):
    code = -32700
    kind = "parse_error"


class InvalidRequest(ConsortiaError):
    code = -32600
    kind = "invalid_request"


class MethodNotFound(ConsortiaError):
    code = -32601
    kind = "method_not_found"


class InvalidParams(ConsortiaError):
    code = -32602
    kind = "invalid_params"


class InternalError(ConsortiaError):
    code = -32603
    kind = "internal"


# --- application errors (-32000..-32099) --------------------------------------------------


class DecodeError(ConsortiaError):
    """Bytes that are not a valid canonical encoding of the expected wire type."""

    code = -32001
    kind = "decode_error"


class InvalidTransaction(ConsortiaError):
    """A transaction failed admission: size, chain id, expiry window, fuel limit (subclasses: the
    signature, the sender key)."""

    code = -32002
    kind = "invalid_transaction"


class BadSignature(InvalidTransaction):
    """The signature has the wrong size for the chain's suite, or does not verify."""

    code = -32003
    kind = "bad_signature"


class InvalidSenderKey(InvalidTransaction):
    """The sender public key is not a valid key of the chain's suite (wrong size, a key of the
    other suite, off the curve, small order): malformed key material, so the crypto_error code."""

    code = -32011
    kind = "crypto_error"


class DuplicateTransaction(ConsortiaError):
    """Same transaction hash already pooled or committed, or its nonce already used."""

    code = -32004
    kind = "duplicate_transaction"


class PoolFull(ConsortiaError):
    code = -32005
    kind = "pool_full"


class NotFound(ConsortiaError):
    code = -32006
    kind = "not_found"


class StatePruned(NotFound):
    """The state tree of the height asked for is no longer stored (pruned, or below the snapshot
    this node joined at); ``data`` is ``{"oldest_height": H}``, the lowest height it can prove."""

    kind = "state_pruned"


class ExecutionError(ConsortiaError):
    """A contract call failed (revert, trap, out of fuel); used by read-only queries."""

    code = -32007
    kind = "execution_error"


class PermissionDenied(ConsortiaError):
    code = -32008
    kind = "permission_denied"


class AccountFrozen(InvalidTransaction):
    """The sender is frozen by the governance committee: the pool refuses its transactions."""

    code = -32015
    kind = "account_frozen"


class RateLimited(ConsortiaError):
    """This client sent more requests than the node's public RPC allows it per second."""

    code = -32016
    kind = "rate_limited"


class RequestTooLarge(ConsortiaError):
    code = -32009
    kind = "request_too_large"


class Unavailable(ConsortiaError):
    """The node cannot serve this now (shutting down, syncing, feature not enabled)."""

    code = -32010
    kind = "unavailable"


class CryptoError(ConsortiaError):
    """Malformed key or signature material, or an unknown crypto suite."""

    code = -32011
    kind = "crypto_error"


class StoreError(ConsortiaError):
    """The database cannot be opened or is corrupted."""

    code = -32012
    kind = "store_error"


class StoreFailure(StoreError):
    """A read or write of the node's database failed while running (corruption, full disk, I/O
    error): the node cannot go on safely and stops taking part."""


class ConfigError(ConsortiaError):
    """A node home, genesis or config file is missing or invalid."""

    code = -32013
    kind = "config_error"


class ChainParamError(ConfigError):
    """A chain parameter name or value the parameter table does not allow.

    Genesis reports it as the config error it is; a ``set_param`` proposal turns it into a revert.
    """


class ConsensusError(ConsortiaError):
    """A block or certificate failed validation."""

    code = -32014
    kind = "consensus_error"


class NodeListPending(ConsensusError):
    """A block's parent is uncommitted and changes the node list: the block cannot be checked
    until that parent commits (its validators and quorum are only known then). Not a fault of
    the proposer: consensus holds the block until the parent commits."""
