"""The crypto suite interface: everything the node needs from cryptography, behind one object.

A chain picks its suite once, in genesis; every component then asks the suite for hashes,
signatures and addresses, so nothing else in the node knows which algorithms are in use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

ADDRESS_SIZE = 20
HASH_SIZE = 32
SYMMETRIC_NONCE_SIZE = 12


@dataclass(frozen=True)
class KeyPair:
    """A private key with its public key, both as raw bytes in the suite's wire encoding."""

    suite: str
    private_bytes: bytes
    public_bytes: bytes


class CryptoSuite(ABC):
    """Hash, sign, verify, derive addresses and encrypt, for one fixed set of algorithms.

    Wire encodings (documented in docs/transaction-format.md):
    - private key: 32 raw bytes;
    - public key: ``public_key_size`` bytes (SM2: 65-byte uncompressed SEC1 point 0x04||X||Y;
      Ed25519: 32 raw bytes);
    - signature: ``signature_size`` bytes (SM2: r||s, 32 bytes each, big-endian; Ed25519: 64 bytes);
    - address: last 20 bytes of ``hash(public_key)``.
    """

    name: str
    public_key_size: int
    signature_size: int

    @abstractmethod
    def hash(self, data: bytes) -> bytes:
        """32-byte digest (SM3 or SHA-256)."""

    @abstractmethod
    def generate_keypair(self) -> KeyPair:
        """A fresh random key pair."""

    @abstractmethod
    def keypair_from_private(self, private_bytes: bytes) -> KeyPair:
        """Rebuild a key pair from 32 private-key bytes; raises CryptoError if invalid."""

    @abstractmethod
    def sign(self, private_bytes: bytes, message: bytes) -> bytes:
        """Sign ``message`` (the suite hashes it itself: SM2 with Z_A, Ed25519 natively)."""

    @abstractmethod
    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is valid; never raises on malformed input, returns False."""

    @abstractmethod
    def validate_public_key(self, public_bytes: bytes) -> None:
        """Raise CryptoError unless ``public_bytes`` is a valid public key of this suite."""

    @abstractmethod
    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Authenticated symmetric encryption (SM4-GCM or AES-256-GCM); key is 16 or 32 bytes."""

    @abstractmethod
    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Inverse of ``encrypt``; raises CryptoError when authentication fails."""

    @property
    @abstractmethod
    def symmetric_key_size(self) -> int:
        """Key size in bytes for ``encrypt``/``decrypt``."""

    def address(self, public_bytes: bytes) -> bytes:
        """Account address: the last 20 bytes of the suite hash of the public key."""
        return self.hash(public_bytes)[-ADDRESS_SIZE:]
