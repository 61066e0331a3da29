"""Building and signing transactions."""

from __future__ import annotations

import secrets

from node.crypto.base import CryptoSuite, KeyPair
from node.wire.types import NONCE_SIZE, Transaction


def build_transaction(
    suite: CryptoSuite,
    key: KeyPair,
    *,
    chain_id: str,
    to: bytes,
    method: str,
    args: bytes,
    fuel_limit: int,
    expiry_height: int,
    nonce: bytes | None = None,
) -> Transaction:
    """A signed transaction with a fresh random nonce (unless one is given)."""
    unsigned = Transaction(
        chain_id=chain_id,
        nonce=nonce if nonce is not None else secrets.token_bytes(NONCE_SIZE),
        expiry_height=expiry_height,
        sender_pubkey=key.public_bytes,
        to=to,
        method=method,
        args=args,
        fuel_limit=fuel_limit,
    )
    signature = suite.sign(key.private_bytes, unsigned.signing_bytes())
    return Transaction(**{**unsigned.to_map(), "signature": signature})


def tx_hash(suite: CryptoSuite, tx: Transaction) -> bytes:
    return suite.hash(tx.signing_bytes())
