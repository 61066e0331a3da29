"""Ed25519 (RFC 8032), SHA-256 and AES-256-GCM behind the suite interface."""

from __future__ import annotations

import os

import pytest

from node.crypto import SUITES, get_suite
from node.errors import CryptoError

std = get_suite("std")

RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_vector_1():
    key = std.keypair_from_private(RFC8032_SECRET)
    assert key.public_bytes == RFC8032_PUBLIC
    assert std.sign(RFC8032_SECRET, b"") == RFC8032_SIG
    assert std.verify(RFC8032_PUBLIC, b"", RFC8032_SIG)
    assert not std.verify(RFC8032_PUBLIC, b"x", RFC8032_SIG)


def test_sha256():
    assert std.hash(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_malformed_inputs_return_false():
    key = std.generate_keypair()
    sig = std.sign(key.private_bytes, b"m")
    for pub, s in [(b"", sig), (key.public_bytes[:-1], sig), (key.public_bytes, sig[:-1]), (key.public_bytes, bytes(64)),
                   (b"\xff" * 32, sig)]:
        assert std.verify(pub, b"m", s) is False


def test_aes_gcm_roundtrip_and_tamper():
    key, nonce = os.urandom(32), os.urandom(12)
    ct = std.encrypt(key, nonce, b"secret", b"ad")
    assert std.decrypt(key, nonce, ct, b"ad") == b"secret"
    with pytest.raises(CryptoError):
        std.decrypt(key, nonce, ct[:-1] + bytes([ct[-1] ^ 1]), b"ad")
    with pytest.raises(CryptoError):
        std.encrypt(os.urandom(16), nonce, b"x")


def test_keys_and_addresses():
    key = std.generate_keypair()
    assert std.keypair_from_private(key.private_bytes) == key
    assert std.address(key.public_bytes) == std.hash(key.public_bytes)[-20:]
    with pytest.raises(CryptoError):
        std.keypair_from_private(b"short")
    with pytest.raises(CryptoError):
        std.validate_public_key(b"\x01" * 31)


def test_suite_registry():
    assert set(SUITES) == {"sm", "std"}
    assert get_suite("sm") is get_suite("sm")
    with pytest.raises(CryptoError, match="unknown crypto suite 'rsa'"):
        get_suite("rsa")
