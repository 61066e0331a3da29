"""The ``sm`` suite: SM2 signatures (GB/T 32918, with Z_A), SM3 hashes (GB/T 32905), SM4-GCM (GB/T 32907).

SM2 runs in C through ``tongsuopy`` (a build of pyca/cryptography on Tongsuo): signing an SM2 key
with ``ECDSA(SM3())`` there is true SM2 with the Z_A pre-processing for the default user id
``1234567812345678``. Pure-Python ``gmssl`` is kept only as the independent cross-check in tests:
it takes milliseconds per signature. SM3 comes from OpenSSL through ``hashlib`` when available.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_serialization
from tongsuopy.crypto.asymciphers import ec as ts_ec

from node.crypto.base import SYMMETRIC_NONCE_SIZE, CryptoSuite, KeyPair
from node.errors import CryptoError

# SM2 curve order n (GB/T 32918.5).
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
DEFAULT_USER_ID = b"1234567812345678"
_CURVE = ts_ec.SM2()
_SIG_ALG = ts_ec.ECDSA(ts_hashes.SM3())
_GCM_TAG = 16


def _make_sm3() -> Callable[[bytes], bytes]:
    try:
        hashlib.new("sm3", b"abc")
        return lambda data: hashlib.new("sm3", data).digest()
    except ValueError:
        def sm3(data: bytes) -> bytes:
            h = ts_hashes.Hash(ts_hashes.SM3())
            h.update(data)
            return h.finalize()

        return sm3


_sm3 = _make_sm3()


@lru_cache(maxsize=4096)
def _public_key(data: bytes) -> ts_ec.EllipticCurvePublicKey:
    return ts_ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, data)


@lru_cache(maxsize=256)
def _private_key(data: bytes) -> ts_ec.EllipticCurvePrivateKey:
    return ts_ec.derive_private_key(int.from_bytes(data, "big"), _CURVE)


def _check_private(data: bytes) -> None:
    if not isinstance(data, bytes) or len(data) != 32:
        raise CryptoError("an SM2 private key is 32 bytes")
    d = int.from_bytes(data, "big")
    if not 1 <= d <= SM2_N - 2:
        raise CryptoError("SM2 private key is out of range [1, n-2]")


class SMSuite(CryptoSuite):
    name = "sm"
    public_key_size = 65
    signature_size = 64

    def hash(self, data: bytes) -> bytes:
        return _sm3(data)

    def generate_keypair(self) -> KeyPair:
        while True:
            key = ts_ec.generate_private_key(_CURVE)
            d = key.private_numbers().private_value
            if d <= SM2_N - 2:  # GB/T 32918 requires d in [1, n-2]
                break
        private = d.to_bytes(32, "big")
        return KeyPair(suite=self.name, private_bytes=private, public_bytes=_encode_point(key.public_key()))

    def keypair_from_private(self, private_bytes: bytes) -> KeyPair:
        _check_private(private_bytes)
        try:
            key = _private_key(private_bytes)
        except ValueError:
            raise CryptoError("not a valid SM2 private key") from None
        return KeyPair(suite=self.name, private_bytes=private_bytes, public_bytes=_encode_point(key.public_key()))

    def sign(self, private_bytes: bytes, message: bytes) -> bytes:
        _check_private(private_bytes)
        der = _private_key(private_bytes).sign(message, _SIG_ALG)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_bytes: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_bytes) != 65 or public_bytes[0] != 4 or len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (1 <= r < SM2_N and 1 <= s < SM2_N):
            return False
        try:
            _public_key(bytes(public_bytes)).verify(encode_dss_signature(r, s), message, _SIG_ALG)
            return True
        except Exception:  # InvalidSignature, or a point that is not on the curve
            return False

    def validate_public_key(self, public_bytes: bytes) -> None:
        if not isinstance(public_bytes, bytes) or len(public_bytes) != 65 or public_bytes[0] != 4:
            raise CryptoError("an SM2 public key is a 65-byte uncompressed point (0x04 || X || Y)")
        try:
            _public_key(public_bytes)
        except Exception:
            raise CryptoError("SM2 public key is not a point on the curve") from None

    @property
    def symmetric_key_size(self) -> int:
        return 16

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        _check_sym(key, nonce)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated_data)
        body = enc.update(plaintext) + enc.finalize()
        return body + enc.tag

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        _check_sym(key, nonce)
        if len(ciphertext) < _GCM_TAG:
            raise CryptoError("ciphertext is shorter than its authentication tag")
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, ciphertext[-_GCM_TAG:])).decryptor()
        dec.authenticate_additional_data(associated_data)
        try:
            return dec.update(ciphertext[:-_GCM_TAG]) + dec.finalize()
        except InvalidTag:
            raise CryptoError("decryption failed: ciphertext or associated data was altered, or the key is wrong") from None


def _encode_point(pub: ts_ec.EllipticCurvePublicKey) -> bytes:
    return pub.public_bytes(ts_serialization.Encoding.X962, ts_serialization.PublicFormat.UncompressedPoint)


def _check_sym(key: bytes, nonce: bytes) -> None:
    if len(key) != 16:
        raise CryptoError("SM4 keys are 16 bytes")
    if len(nonce) != SYMMETRIC_NONCE_SIZE:
        raise CryptoError(f"nonce must be {SYMMETRIC_NONCE_SIZE} bytes")
