"""The ``std`` suite: Ed25519 signatures, SHA-256 hashes, AES-256-GCM, all from ``cryptography``.

For chains with no national-algorithm requirement: every primitive is in OpenSSL, so it is the
fastest option and interoperates with any standard tooling.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.crypto.base import SYMMETRIC_NONCE_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
AES_KEY_SIZE = 32

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw
_NO_ENC = serialization.NoEncryption()


@lru_cache(maxsize=4096)
def _public_key(data: bytes) -> Ed25519PublicKey:
    """Parse a 32-byte key once (decompressing the point is a field square root); failures aren't cached."""
    return Ed25519PublicKey.from_public_bytes(data)


@lru_cache(maxsize=256)
def _private_key(data: bytes) -> Ed25519PrivateKey:
    """Expanding a seed costs a SHA-512 and a base-point multiply, so keep recent signers around."""
    return Ed25519PrivateKey.from_private_bytes(data)


# --- Ed25519 point decoding (RFC 8032 section 5.1.3) ----------------------------------------------
# ``cryptography`` accepts any 32 bytes as a public key and only fails later, at verify. A chain must
# refuse such keys up front, and also non-canonical encodings (y >= p: a second address for the same
# key) and small-order points (anyone can sign for them), so validation decodes the point here.

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(data: bytes) -> tuple[int, int]:
    """Affine (x, y) of an encoded point; ValueError with the reason if it is not a canonical point."""
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        raise ValueError("non-canonical encoding (y >= p)")
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif vx2 != u:
        raise ValueError("not a point on the curve")
    if x == 0 and sign:
        raise ValueError("non-canonical encoding (x = 0 with sign bit set)")
    if x & 1 != sign:
        x = _P - x
    return x, y


def _is_small_order(x: int, y: int) -> bool:
    """[8]P == identity, by three projective doublings (complete for Ed25519: a = -1 square, d non-square)."""
    X, Y, Z = x, y, 1
    for _ in range(3):
        B = (X + Y) * (X + Y) % _P
        C = X * X % _P
        D = Y * Y % _P
        F = (D - C) % _P  # E + D with E = a*C = -C
        J = (F - 2 * Z * Z) % _P
        X, Y, Z = (B - C - D) * J % _P, F * (-C - D) % _P, F * J % _P
    return X == 0 and Y == Z


@lru_cache(maxsize=4096)
def _check_public(data: bytes) -> None:
    """Raise ValueError unless ``data`` is a canonical point of large order (successes are cached)."""
    x, y = _decode_point(data)
    if _is_small_order(x, y):
        raise ValueError("a small-order point (anyone could sign for it)")


def _check_private(data: object) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) != PRIVATE_KEY_SIZE:
        raise CryptoError(f"an Ed25519 private key is {PRIVATE_KEY_SIZE} bytes")
    return bytes(data)


class StdSuite(CryptoSuite):
    """Ed25519 + SHA-256 + AES-256-GCM."""

    name = "std"
    public_key_size = PUBLIC_KEY_SIZE
    signature_size = SIGNATURE_SIZE

    def hash(self, data: bytes) -> bytes:
        """SHA-256 digest (32 bytes)."""
        return hashlib.sha256(data).digest()

    def generate_keypair(self) -> KeyPair:
        """A fresh Ed25519 key from the OS CSPRNG."""
        key = Ed25519PrivateKey.generate()
        return KeyPair(
            suite=self.name,
            private_bytes=key.private_bytes(_RAW, _RAW_PRIV, _NO_ENC),
            public_bytes=key.public_key().public_bytes(_RAW, _RAW_PUB),
        )

    def keypair_from_private(self, private_bytes: bytes) -> KeyPair:
        """Any 32-byte seed is a valid Ed25519 private key (RFC 8032 section 5.1.5)."""
        private_bytes = _check_private(private_bytes)
        try:
            key = _private_key(private_bytes)
        except ValueError:
            raise CryptoError("not a valid Ed25519 private key") from None
        public = key.public_key().public_bytes(_RAW, _RAW_PUB)
        return KeyPair(suite=self.name, private_bytes=private_bytes, public_bytes=public)

    def sign(self, private_bytes: bytes, message: bytes) -> bytes:
        """Deterministic Ed25519 signature (64 bytes)."""
        private_bytes = _check_private(private_bytes)
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise CryptoError("message to sign must be bytes")
        return _private_key(private_bytes).sign(bytes(message))

    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is valid; any malformed input yields False."""
        try:
            if len(public_bytes) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
                return False
            _public_key(bytes(public_bytes)).verify(bytes(signature), bytes(message))
            return True
        except Exception:  # InvalidSignature, a non-point, a non-bytes argument, ...
            return False

    def validate_public_key(self, public_bytes: bytes) -> None:
        """Accept only 32 bytes that canonically encode a curve point of large (prime) order."""
        if not isinstance(public_bytes, (bytes, bytearray, memoryview)):
            raise CryptoError(f"an Ed25519 public key must be bytes, not {type(public_bytes).__name__}")
        public_bytes = bytes(public_bytes)
        if len(public_bytes) != PUBLIC_KEY_SIZE:
            raise CryptoError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_bytes)}")
        try:
            _check_public(public_bytes)
        except ValueError as exc:
            raise CryptoError(f"not a valid Ed25519 public key: {exc}") from None

    @property
    def symmetric_key_size(self) -> int:
        return AES_KEY_SIZE

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """AES-256-GCM; returns ciphertext || 16-byte tag."""
        _check_sym(key, nonce)
        return AESGCM(bytes(key)).encrypt(nonce, plaintext, associated_data or None)

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Inverse of ``encrypt``; CryptoError if the tag does not authenticate."""
        _check_sym(key, nonce)
        try:
            return AESGCM(bytes(key)).decrypt(nonce, ciphertext, associated_data or None)
        except InvalidTag:
            raise CryptoError(
                "decryption failed: ciphertext or associated data was altered, or the key is wrong"
            ) from None


def _check_sym(key: bytes, nonce: bytes) -> None:
    if len(key) != AES_KEY_SIZE:
        raise CryptoError(f"AES-256-GCM keys are {AES_KEY_SIZE} bytes, got {len(key)}")
    if len(nonce) != SYMMETRIC_NONCE_SIZE:
        raise CryptoError(f"nonce must be {SYMMETRIC_NONCE_SIZE} bytes, got {len(nonce)}")
