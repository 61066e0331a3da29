"""The ``sm`` suite: SM2 signatures (GB/T 32918, with Z_A), SM3 hashes (GB/T 32905), SM4-GCM (GB/T 32907).

SM2 runs in C through ``tongsuopy`` (a build of pyca/cryptography on Tongsuo): signing an SM2 key
with ``ECDSA(SM3())`` there is true SM2 with the Z_A pre-processing for the default user id
``1234567812345678``. Pure-Python ``gmssl`` is kept as the independent cross-check in tests (and as
the last-resort SM3): it takes milliseconds per signature, far too slow for the verify hot path.

Each primitive picks its fastest available backend once, at import, and checks it against a
published vector before trusting it, so a half-working OpenSSL build falls through to the next one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_serialization
from tongsuopy.crypto.asymciphers import ec as ts_ec

from node.crypto.base import SYMMETRIC_NONCE_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

# SM2 recommended curve order n (GB/T 32918.5).
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
DEFAULT_USER_ID = b"1234567812345678"
PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 65
SIGNATURE_SIZE = 64
SM4_KEY_SIZE = 16
GCM_TAG_SIZE = 16

_CURVE = ts_ec.SM2()
_SIG_ALG = ts_ec.ECDSA(ts_hashes.SM3())
_X962 = ts_serialization.Encoding.X962
_UNCOMPRESSED = ts_serialization.PublicFormat.UncompressedPoint

_SM3_ABC = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


# --- SM3 ----------------------------------------------------------------------------------------


try:
    _SM3_BLANK = hashlib.new("sm3")
except ValueError:  # this OpenSSL has no SM3: _sm3_hashlib fails and the picker takes the next backend

    def _sm3_hashlib(data: bytes) -> bytes:
        raise ValueError("this OpenSSL has no SM3")

else:

    def _sm3_hashlib(data: bytes) -> bytes:
        h = _SM3_BLANK.copy()  # copying a fresh object skips hashlib's lookup by name on every call
        h.update(data)
        return h.digest()


def _sm3_tongsuo(data: bytes) -> bytes:
    h = ts_hashes.Hash(ts_hashes.SM3())
    h.update(data)
    return h.finalize()


def _sm3_gmssl(data: bytes) -> bytes:
    from gmssl import func, sm3

    return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(data)))


def _pick_sm3() -> tuple[str, Callable[[bytes], bytes]]:
    """Fastest SM3 that reproduces the GB/T 32905 "abc" vector: OpenSSL via hashlib, Tongsuo, gmssl."""
    for name, fn in (("hashlib", _sm3_hashlib), ("tongsuopy", _sm3_tongsuo), ("gmssl", _sm3_gmssl)):
        try:
            if fn(b"abc") == _SM3_ABC:
                return name, fn
        except Exception:  # backend missing or unusable: try the next one
            continue
    raise ImportError("no working SM3 implementation (hashlib, tongsuopy and gmssl all failed)")


SM3_BACKEND, _sm3 = _pick_sm3()


# --- SM4-GCM ------------------------------------------------------------------------------------


_Sm4GcmBackend = tuple[Any, Any, Any, type[Exception]]  # (Cipher, algorithms.SM4, modes.GCM, InvalidTag)


def _sm4_gcm_cryptography() -> _Sm4GcmBackend:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher, algorithms.SM4, modes.GCM, InvalidTag


def _sm4_gcm_tongsuopy() -> _Sm4GcmBackend:
    from tongsuopy.crypto.ciphers import Cipher, algorithms, modes
    from tongsuopy.crypto.exceptions import InvalidTag as TsInvalidTag

    return Cipher, algorithms.SM4, modes.GCM, TsInvalidTag


SM4_GCM_BACKENDS: dict[str, Callable[[], _Sm4GcmBackend]] = {
    "cryptography": _sm4_gcm_cryptography,
    "tongsuopy": _sm4_gcm_tongsuopy,
}


def _sm4_gcm_works(backend: _Sm4GcmBackend) -> bool:
    """Round-trips a message and rejects a forged tag (an OpenSSL may list SM4 yet lack GCM for it)."""
    cipher, sm4, gcm, invalid_tag = backend
    key, nonce, msg = bytes(range(16)), bytes(12), b"sm4-gcm self test"
    enc = cipher(sm4(key), gcm(nonce)).encryptor()
    ct = enc.update(msg) + enc.finalize()
    dec = cipher(sm4(key), gcm(nonce, enc.tag)).decryptor()
    if dec.update(ct) + dec.finalize() != msg:
        return False
    forged = cipher(sm4(key), gcm(nonce, bytes(GCM_TAG_SIZE))).decryptor()
    forged.update(ct)
    try:
        forged.finalize()
    except invalid_tag:
        return True
    return False


def _pick_sm4_gcm() -> tuple[str, _Sm4GcmBackend]:
    """``cryptography``'s SM4-GCM when the linked OpenSSL supports it, else Tongsuo's."""
    for name, load in SM4_GCM_BACKENDS.items():
        try:
            backend = load()
            if _sm4_gcm_works(backend):
                return name, backend
        except Exception:  # not compiled in / unsupported mode: try the next one
            continue
    raise ImportError("no working SM4-GCM implementation (cryptography and tongsuopy both failed)")


SM4_BACKEND, (_Cipher, _SM4, _GCM, _InvalidTag) = _pick_sm4_gcm()


# --- SM2 key objects (cached: building an OpenSSL key from bytes costs more than the lookup) ----


@lru_cache(maxsize=4096)
def _public_key(data: bytes) -> ts_ec.EllipticCurvePublicKey:
    """Parse a 65-byte point; raises ValueError if it is not on the curve (failures are not cached)."""
    return ts_ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, data)


@lru_cache(maxsize=256)
def _private_key(data: bytes) -> ts_ec.EllipticCurvePrivateKey:
    """Build a key object from an already range-checked scalar (derivation costs a point multiply)."""
    return ts_ec.derive_private_key(int.from_bytes(data, "big"), _CURVE)


def _check_private(data: object) -> bytes:
    """GB/T 32918.1 requires d in [1, n-2]: n-1 has no inverse of (1+d) in the signing equation."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) != PRIVATE_KEY_SIZE:
        raise CryptoError(f"an SM2 private key is {PRIVATE_KEY_SIZE} bytes")
    data = bytes(data)
    d = int.from_bytes(data, "big")
    if not 1 <= d <= SM2_N - 2:
        raise CryptoError("SM2 private key is out of range [1, n-2]")
    return data


def _encode_point(pub: ts_ec.EllipticCurvePublicKey) -> bytes:
    return pub.public_bytes(_X962, _UNCOMPRESSED)


class SMSuite(CryptoSuite):
    """SM2 + SM3 + SM4-GCM, the suite Chinese regulators expect for consortium chains."""

    name = "sm"
    public_key_size = PUBLIC_KEY_SIZE
    signature_size = SIGNATURE_SIZE

    def hash(self, data: bytes) -> bytes:
        """SM3 digest (32 bytes)."""
        return _sm3(data)

    def generate_keypair(self) -> KeyPair:
        """A fresh SM2 key, resampled in the (astronomically rare) case d = n-1."""
        while True:
            key = ts_ec.generate_private_key(_CURVE)
            d = key.private_numbers().private_value
            if 1 <= d <= SM2_N - 2:
                break
        private = d.to_bytes(PRIVATE_KEY_SIZE, "big")
        return KeyPair(suite=self.name, private_bytes=private, public_bytes=_encode_point(key.public_key()))

    def keypair_from_private(self, private_bytes: bytes) -> KeyPair:
        """Recompute the public point from a 32-byte big-endian scalar."""
        private_bytes = _check_private(private_bytes)
        try:
            key = _private_key(private_bytes)
        except ValueError:
            raise CryptoError("not a valid SM2 private key") from None
        return KeyPair(suite=self.name, private_bytes=private_bytes, public_bytes=_encode_point(key.public_key()))

    def sign(self, private_bytes: bytes, message: bytes) -> bytes:
        """SM2 signature over SM3(Z_A || message), returned as fixed-width r || s."""
        private_bytes = _check_private(private_bytes)
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise CryptoError("message to sign must be bytes")
        der = _private_key(private_bytes).sign(bytes(message), _SIG_ALG)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is a valid SM2 signature; any malformed input yields False."""
        try:
            if len(public_bytes) != PUBLIC_KEY_SIZE or public_bytes[0] != 4 or len(signature) != SIGNATURE_SIZE:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (1 <= r < SM2_N and 1 <= s < SM2_N):
                return False
            _public_key(bytes(public_bytes)).verify(encode_dss_signature(r, s), bytes(message), _SIG_ALG)
            return True
        except Exception:  # InvalidSignature, an off-curve point, a non-bytes argument, ...
            return False

    def validate_public_key(self, public_bytes: bytes) -> None:
        """Accept only a 65-byte uncompressed point that lies on the SM2 curve."""
        if not isinstance(public_bytes, (bytes, bytearray, memoryview)):
            raise CryptoError(f"an SM2 public key must be bytes, not {type(public_bytes).__name__}")
        public_bytes = bytes(public_bytes)
        if len(public_bytes) != PUBLIC_KEY_SIZE or public_bytes[0] != 4:
            raise CryptoError(
                f"an SM2 public key is a {PUBLIC_KEY_SIZE}-byte uncompressed point (0x04 || X || Y), "
                f"got {len(public_bytes)} bytes"
                + (f" starting with 0x{public_bytes[0]:02x}" if public_bytes else "")
            )
        try:
            _public_key(public_bytes)
        except Exception:
            raise CryptoError("SM2 public key is not a point on the curve") from None

    @property
    def symmetric_key_size(self) -> int:
        return SM4_KEY_SIZE

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """SM4-GCM; returns ciphertext || 16-byte tag (the same layout as AESGCM)."""
        _check_sym(key, nonce)
        enc = _Cipher(_SM4(bytes(key)), _GCM(bytes(nonce))).encryptor()
        if associated_data:
            enc.authenticate_additional_data(associated_data)
        body = enc.update(plaintext) + enc.finalize()
        return body + enc.tag

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Inverse of ``encrypt``; CryptoError if the tag does not authenticate."""
        _check_sym(key, nonce)
        if len(ciphertext) < GCM_TAG_SIZE:
            raise CryptoError("ciphertext is shorter than its authentication tag")
        dec = _Cipher(_SM4(bytes(key)), _GCM(bytes(nonce), bytes(ciphertext[-GCM_TAG_SIZE:]))).decryptor()
        if associated_data:
            dec.authenticate_additional_data(associated_data)
        try:
            return dec.update(ciphertext[:-GCM_TAG_SIZE]) + dec.finalize()
        except _InvalidTag:
            raise CryptoError(
                "decryption failed: ciphertext or associated data was altered, or the key is wrong"
            ) from None


def _check_sym(key: bytes, nonce: bytes) -> None:
    if len(key) != SM4_KEY_SIZE:
        raise CryptoError(f"SM4 keys are {SM4_KEY_SIZE} bytes, got {len(key)}")
    if len(nonce) != SYMMETRIC_NONCE_SIZE:
        raise CryptoError(f"nonce must be {SYMMETRIC_NONCE_SIZE} bytes, got {len(nonce)}")
