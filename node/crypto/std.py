"""The ``std`` suite: Ed25519 signatures, SHA-256 hashes, AES-256-GCM.

For chains with no national-algorithm requirement; every primitive interoperates with standard
tooling. Ed25519 signing and verification run in libsodium (through PyNaCl) when it is there and
reproduces the RFC 8032 test vector: it verifies about twice as fast as OpenSSL, and every
validator verifies every transaction. Otherwise they fall back to ``cryptography`` (OpenSSL).
Hashing and AES-GCM use OpenSSL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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


# --- Ed25519 sign/verify backends --------------------------------------------------------------

# RFC 8032 section 7.1, test 2: one-byte message.
_VECTOR_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
_VECTOR_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
_VECTOR_MESSAGE = bytes.fromhex("72")
_VECTOR_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def _cryptography_sign(seed: bytes, message: bytes) -> bytes:
    return _private_key(seed).sign(message)


def _cryptography_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _public_key(public).verify(signature, message)
        return True
    except Exception:  # InvalidSignature, a non-point
        return False


def _pick_ed25519() -> tuple[str, Callable[[bytes, bytes], bytes], Callable[[bytes, bytes, bytes], bool]]:
    """libsodium if it is installed and reproduces RFC 8032, else OpenSSL through ``cryptography``."""
    try:
        from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair

        @lru_cache(maxsize=256)
        def secret_key(seed: bytes) -> bytes:
            return crypto_sign_seed_keypair(seed)[1]

        def sodium_sign(seed: bytes, message: bytes) -> bytes:
            return crypto_sign(message, secret_key(seed))[:SIGNATURE_SIZE]

        def sodium_verify(public: bytes, message: bytes, signature: bytes) -> bool:
            try:
                crypto_sign_open(signature + message, public)
                return True
            except Exception:  # BadSignatureError, a non-point, a small-order key
                return False

        if (
            sodium_sign(_VECTOR_SEED, _VECTOR_MESSAGE) == _VECTOR_SIGNATURE
            and sodium_verify(_VECTOR_PUBLIC, _VECTOR_MESSAGE, _VECTOR_SIGNATURE)
            and not sodium_verify(_VECTOR_PUBLIC, b"\x73", _VECTOR_SIGNATURE)
        ):
            return "libsodium", sodium_sign, sodium_verify
    except Exception:  # PyNaCl missing or broken: use OpenSSL
        pass
    return "openssl", _cryptography_sign, _cryptography_verify


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


ED25519_BACKEND, _sign, _verify = _pick_ed25519()


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
        return _sign(private_bytes, bytes(message))

    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is valid; any malformed input yields False."""
        try:
            if len(public_bytes) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
                return False
            return _verify(bytes(public_bytes), bytes(message), bytes(signature))
        except Exception:  # a non-bytes argument, ...
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
