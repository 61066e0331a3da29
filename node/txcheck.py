"""Stateless transaction checks shared by the pool (client input) and block validation (peer input)."""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto.base import CryptoSuite
from node.errors import BadSignature, CryptoError, DecodeError, InvalidSenderKey, InvalidTransaction
from node.wire.types import Transaction


@dataclass(frozen=True, slots=True)
class CheckedTx:
    """A decoded transaction whose encoding, chain id and signature have been checked."""

    tx: Transaction
    hash: bytes
    sender: bytes
    size: int
    signing: bytes  # the signing bytes, kept so they are encoded once


def check_transaction(suite: CryptoSuite, chain_id: str, tx: Transaction, *, size: int, verify: bool = True) -> CheckedTx:
    """Validate everything about ``tx`` that does not depend on chain state.

    Each cause has its own error (and JSON-RPC code): another chain's id is InvalidTransaction, a
    sender key that is not a valid key of the chain's suite is InvalidSenderKey, a signature of the
    wrong size or that does not verify is BadSignature."""
    if tx.chain_id != chain_id:
        raise InvalidTransaction(f"wrong chain id '{tx.chain_id}' (this chain is '{chain_id}')")
    try:
        suite.validate_public_key(tx.sender_pubkey)
    except CryptoError as exc:
        raise InvalidSenderKey(
            f"sender public key is not a valid {suite.name} key ({exc.message}); this chain uses the '{suite.name}' suite"
        ) from None
    if len(tx.signature) != suite.signature_size:
        raise BadSignature(f"signature must be {suite.signature_size} bytes for the '{suite.name}' suite")
    signing = tx.signing_bytes()
    if verify and not suite.verify(tx.sender_pubkey, signing, tx.signature):
        raise BadSignature("signature does not verify")
    return CheckedTx(tx=tx, hash=suite.hash(signing), sender=suite.address(tx.sender_pubkey), size=size, signing=signing)


def decode_and_check(suite: CryptoSuite, chain_id: str, raw: bytes, *, max_bytes: int, verify: bool = True) -> CheckedTx:
    """Decode client bytes into a checked transaction; every failure is a clear ConsortiaError."""
    if not isinstance(raw, (bytes, bytearray)):
        raise DecodeError("transaction must be bytes")
    if len(raw) > max_bytes:
        raise InvalidTransaction(f"transaction is {len(raw)} bytes, limit is {max_bytes}")
    tx = Transaction.decode(bytes(raw), max_bytes=max_bytes)
    return check_transaction(suite, chain_id, tx, size=len(raw), verify=verify)
