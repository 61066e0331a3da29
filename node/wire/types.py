"""Wire types: frozen dataclasses with a canonical msgpack form and strict decoders.

Every type encodes as a msgpack map whose keys are its field names (sorted, see codec.py). Decoders
accept exactly those keys with exactly the documented types and limits: unknown or missing fields,
wrong types, oversized values and trailing bytes are all ``DecodeError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from node.errors import DecodeError
from node.wire import codec
from node.wire.fields import Checker, byte_string, byte_string_of, check_map, list_of, text, u64

# --- limits (documented in docs/transaction-format.md) -------------------------------------

MAX_TX_BYTES = 1024 * 1024
MAX_CHAIN_ID_LEN = 64
NONCE_SIZE = 16
MAX_PUBKEY_LEN = 128
MAX_SIGNATURE_LEN = 128
MAX_METHOD_LEN = 64
MAX_ERROR_LEN = 1024
MAX_EVENT_NAME_LEN = 64
MAX_EVENTS_PER_RECEIPT = 256
MAX_RETURN_BYTES = 256 * 1024
MAX_BLOCK_TXS = 50_000
MAX_BLOCK_BYTES = 64 * 1024 * 1024
MAX_CERT_SIGNATURES = 1024

METHOD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# --- transaction ---------------------------------------------------------------------------

TX_BODY_SCHEMA: dict[str, Checker] = {
    "chain_id": text(MAX_CHAIN_ID_LEN, CHAIN_ID_RE),
    "nonce": byte_string_of(NONCE_SIZE),
    "expiry_height": u64,
    "sender_pubkey": byte_string(1, MAX_PUBKEY_LEN),
    "to": byte_string_of(0, 20),
    "method": text(MAX_METHOD_LEN, METHOD_RE),
    "args": byte_string(0, MAX_TX_BYTES),
    "fuel_limit": u64,
}
TX_SCHEMA: dict[str, Checker] = {**TX_BODY_SCHEMA, "signature": byte_string(1, MAX_SIGNATURE_LEN)}


@dataclass(frozen=True, slots=True)
class Transaction:
    """A signed transaction. ``args`` is the msgpack encoding of the call's arguments."""

    chain_id: str
    nonce: bytes
    expiry_height: int
    sender_pubkey: bytes
    to: bytes
    method: str
    args: bytes
    fuel_limit: int
    signature: bytes = b""

    def body_map(self) -> dict[str, Any]:
        """The signed fields: ``to_map`` without the signature (key order stays canonical)."""
        m = self.to_map()
        del m["signature"]
        return m

    def to_map(self) -> dict[str, Any]:
        return {
            "args": self.args,
            "chain_id": self.chain_id,
            "expiry_height": self.expiry_height,
            "fuel_limit": self.fuel_limit,
            "method": self.method,
            "nonce": self.nonce,
            "sender_pubkey": self.sender_pubkey,
            "signature": self.signature,
            "to": self.to,
        }

    def signing_bytes(self) -> bytes:
        """The exact bytes that are hashed into the tx hash and signed: the body without signature."""
        return codec.encode_sorted(self.body_map())

    def encode(self) -> bytes:
        return codec.encode_sorted(self.to_map())

    @classmethod
    def from_map(cls, raw: Any) -> Transaction:
        m = check_map("transaction", raw, TX_SCHEMA)
        return cls(**m)

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = MAX_TX_BYTES) -> Transaction:
        return cls.from_map(codec.decode(data, max_bytes=max_bytes))


# --- events and receipts -------------------------------------------------------------------

EVENT_SCHEMA: dict[str, Checker] = {
    "contract": byte_string_of(20),
    "name": text(MAX_EVENT_NAME_LEN, METHOD_RE),
    "data": byte_string(0, MAX_RETURN_BYTES),
}


@dataclass(frozen=True, slots=True)
class Event:
    """Emitted by a contract; ``data`` is msgpack chosen by the contract."""

    contract: bytes
    name: str
    data: bytes

    def to_map(self) -> dict[str, Any]:
        return {"contract": self.contract, "data": self.data, "name": self.name}

    @classmethod
    def from_map(cls, raw: Any) -> Event:
        return cls(**check_map("event", raw, EVENT_SCHEMA))


STATUS_OK = 0
STATUS_FAILED = 1

RECEIPT_SCHEMA: dict[str, Checker] = {
    "tx_hash": byte_string_of(32),
    "height": u64,
    "index": u64,
    "status": u64,
    "error": text(MAX_ERROR_LEN),
    "fuel_used": u64,
    "return_value": byte_string(0, MAX_RETURN_BYTES),
    "events": list_of(MAX_EVENTS_PER_RECEIPT),
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one transaction: status 0 = success, 1 = failed (``error`` says why)."""

    tx_hash: bytes
    height: int
    index: int
    status: int
    error: str
    fuel_used: int
    return_value: bytes
    events: tuple[Event, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_map(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "events": [e.to_map() for e in self.events],
            "fuel_used": self.fuel_used,
            "height": self.height,
            "index": self.index,
            "return_value": self.return_value,
            "status": self.status,
            "tx_hash": self.tx_hash,
        }

    def encode(self) -> bytes:
        return codec.encode_sorted(self.to_map())

    @classmethod
    def from_map(cls, raw: Any) -> Receipt:
        m = dict(check_map("receipt", raw, RECEIPT_SCHEMA))
        m["events"] = tuple(Event.from_map(e) for e in m["events"])
        return cls(**m)

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return cls.from_map(codec.decode(data))


# --- blocks --------------------------------------------------------------------------------

HEADER_SCHEMA: dict[str, Checker] = {
    "chain_id": text(MAX_CHAIN_ID_LEN, CHAIN_ID_RE),
    "height": u64,
    "parent_hash": byte_string_of(32),
    "timestamp_ms": u64,
    "proposer": byte_string(0, MAX_PUBKEY_LEN),
    "view": u64,
    "tx_count": u64,
    "tx_root": byte_string_of(32),
    "receipt_root": byte_string_of(32),
    "state_root": byte_string_of(32),
}


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """Commits to the block's transactions, their receipts and the state after the block."""

    chain_id: str
    height: int
    parent_hash: bytes
    timestamp_ms: int
    proposer: bytes
    view: int
    tx_count: int
    tx_root: bytes
    receipt_root: bytes
    state_root: bytes

    def to_map(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "height": self.height,
            "parent_hash": self.parent_hash,
            "proposer": self.proposer,
            "receipt_root": self.receipt_root,
            "state_root": self.state_root,
            "timestamp_ms": self.timestamp_ms,
            "tx_count": self.tx_count,
            "tx_root": self.tx_root,
            "view": self.view,
        }

    def encode(self) -> bytes:
        return codec.encode_sorted(self.to_map())

    @classmethod
    def from_map(cls, raw: Any) -> BlockHeader:
        return cls(**check_map("block header", raw, HEADER_SCHEMA))

    @classmethod
    def decode(cls, data: bytes) -> BlockHeader:
        return cls.from_map(codec.decode(data))


BLOCK_SCHEMA: dict[str, Checker] = {"header": lambda n, v: None, "txs": list_of(MAX_BLOCK_TXS)}


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[Transaction, ...]

    @property
    def height(self) -> int:
        return self.header.height

    def to_map(self) -> dict[str, Any]:
        return {"header": self.header.to_map(), "txs": [t.to_map() for t in self.txs]}

    def encode(self) -> bytes:
        return codec.encode_sorted(self.to_map())

    @classmethod
    def from_map(cls, raw: Any) -> Block:
        m = check_map("block", raw, BLOCK_SCHEMA)
        header = BlockHeader.from_map(m["header"])
        txs = tuple(Transaction.from_map(t) for t in m["txs"])
        if header.tx_count != len(txs):
            raise DecodeError("block tx_count does not match its transactions")
        return cls(header=header, txs=txs)

    @classmethod
    def decode(cls, data: bytes) -> Block:
        return cls.from_map(codec.decode(data, max_bytes=MAX_BLOCK_BYTES))


# --- commit certificates -------------------------------------------------------------------

VOTE_SCHEMA: dict[str, Checker] = {"validator": byte_string(1, MAX_PUBKEY_LEN), "signature": byte_string(1, MAX_SIGNATURE_LEN)}
CERT_SCHEMA: dict[str, Checker] = {
    "chain_id": text(MAX_CHAIN_ID_LEN, CHAIN_ID_RE),
    "height": u64,
    "view": u64,
    "block_hash": byte_string_of(32),
    "votes": list_of(MAX_CERT_SIGNATURES),
}


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator's signature over ``commit_vote_bytes`` of a block."""

    validator: bytes
    signature: bytes

    def to_map(self) -> dict[str, Any]:
        return {"signature": self.signature, "validator": self.validator}

    @classmethod
    def from_map(cls, raw: Any) -> Vote:
        return cls(**check_map("vote", raw, VOTE_SCHEMA))


def commit_vote_bytes(chain_id: str, height: int, view: int, block_hash: bytes) -> bytes:
    """What a validator signs to commit a block (domain-separated by the ``type`` field)."""
    return codec.encode(
        {"type": "commit", "chain_id": chain_id, "height": height, "view": view, "block_hash": block_hash}
    )  # generic encode: sorts the keys


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """Proof of finality: a quorum of validator signatures over the block hash."""

    chain_id: str
    height: int
    view: int
    block_hash: bytes
    votes: tuple[Vote, ...]

    def signed_bytes(self) -> bytes:
        return commit_vote_bytes(self.chain_id, self.height, self.view, self.block_hash)

    def to_map(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "chain_id": self.chain_id,
            "height": self.height,
            "view": self.view,
            "votes": [v.to_map() for v in self.votes],
        }

    def encode(self) -> bytes:
        return codec.encode_sorted(self.to_map())

    @classmethod
    def from_map(cls, raw: Any) -> CommitCertificate:
        m = dict(check_map("commit certificate", raw, CERT_SCHEMA))
        m["votes"] = tuple(Vote.from_map(v) for v in m["votes"])
        return cls(**m)

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        return cls.from_map(codec.decode(data))
