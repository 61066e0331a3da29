"""The ``std`` suite: Ed25519 signatures, SHA-256 hashes, AES-256-GCM, all from ``cryptography``."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.crypto.base import SYMMETRIC_NONCE_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw
_NO_ENC = serialization.NoEncryption()


@lru_cache(maxsize=4096)
def _public_key(data: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(data)


@lru_cache(maxsize=256)
def _private_key(data: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(data)


class StdSuite(CryptoSuite):
    name = "std"
    public_key_size = 32
    signature_size = 64

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def generate_keypair(self) -> KeyPair:
        key = Ed25519PrivateKey.generate()
        return KeyPair(
            suite=self.name,
            private_bytes=key.private_bytes(_RAW, _RAW_PRIV, _NO_ENC),
            public_bytes=key.public_key().public_bytes(_RAW, _RAW_PUB),
        )

    def keypair_from_private(self, private_bytes: bytes) -> KeyPair:
        if not isinstance(private_bytes, bytes) or len(private_bytes) != 32:
            raise CryptoError("an Ed25519 private key is 32 bytes")
        key = _private_key(private_bytes)
        return KeyPair(suite=self.name, private_bytes=private_bytes, public_bytes=key.public_key().public_bytes(_RAW, _RAW_PUB))

    def sign(self, private_bytes: bytes, message: bytes) -> bytes:
        if len(private_bytes) != 32:
            raise CryptoError("an Ed25519 private key is 32 bytes")
        return _private_key(private_bytes).sign(message)

    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_bytes) != 32 or len(signature) != 64:
            return False
        try:
            _public_key(bytes(public_bytes)).verify(bytes(signature), message)
            return True
        except (InvalidSignature, ValueError, TypeError):
            return False

    def validate_public_key(self, public_bytes: bytes) -> None:
        if not isinstance(public_bytes, bytes) or len(public_bytes) != 32:
            raise CryptoError("an Ed25519 public key is 32 bytes")
        try:
            _public_key(public_bytes)
        except ValueError:
            raise CryptoError("not a valid Ed25519 public key") from None

    @property
    def symmetric_key_size(self) -> int:
        return 32

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        _check_sym(key, nonce, 32)
        return AESGCM(key).encrypt(nonce, plaintext, associated_data)

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        _check_sym(key, nonce, 32)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
        except InvalidTag:
            raise CryptoError("decryption failed: ciphertext or associated data was altered, or the key is wrong") from None


def _check_sym(key: bytes, nonce: bytes, key_size: int) -> None:
    if len(key) != key_size:
        raise CryptoError(f"symmetric key must be {key_size} bytes")
    if len(nonce) != SYMMETRIC_NONCE_SIZE:
        raise CryptoError(f"nonce must be {SYMMETRIC_NONCE_SIZE} bytes")
