"""The ``std`` suite: Ed25519 (RFC 8032), SHA-256 (FIPS 180-4) and AES-256-GCM, plus the suite registry."""

from __future__ import annotations

import os
import threading

import pytest

from node.crypto import ADDRESS_SIZE, HASH_SIZE, SUITES, CryptoSuite, KeyPair, get_suite
from node.crypto import std as std_mod
from node.errors import CryptoError

std = get_suite("std")

# RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
RFC8032_2_SECRET = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC8032_2_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC8032_2_SIG = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)
ED25519_L = 2**252 + 27742317777372353535851937790883648493
ED25519_P = 2**255 - 19


def test_rfc8032_vector_1():
    key = std.keypair_from_private(RFC8032_SECRET)
    assert key.public_bytes == RFC8032_PUBLIC
    assert std.sign(RFC8032_SECRET, b"") == RFC8032_SIG
    assert std.verify(RFC8032_PUBLIC, b"", RFC8032_SIG)
    assert not std.verify(RFC8032_PUBLIC, b"x", RFC8032_SIG)
    std.validate_public_key(RFC8032_PUBLIC)


def test_rfc8032_vector_2():
    assert std.keypair_from_private(RFC8032_2_SECRET).public_bytes == RFC8032_2_PUBLIC
    assert std.sign(RFC8032_2_SECRET, b"\x72") == RFC8032_2_SIG
    assert std.verify(RFC8032_2_PUBLIC, b"\x72", RFC8032_2_SIG)
    assert not std.verify(RFC8032_PUBLIC, b"\x72", RFC8032_2_SIG)


def test_sha256():
    assert std.hash(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert std.hash(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert len(std.hash(os.urandom(256))) == HASH_SIZE


def test_sign_verify_random_and_tampered():
    for _ in range(5):
        key = std.generate_keypair()
        other = std.generate_keypair()
        for length in (0, 1, 300, 4096):
            msg = os.urandom(length)
            sig = std.sign(key.private_bytes, msg)
            assert len(sig) == 64
            assert std.verify(key.public_bytes, msg, sig)
            assert not std.verify(key.public_bytes, msg + b"!", sig)
            assert not std.verify(other.public_bytes, msg, sig)
            tampered = bytearray(sig)
            tampered[os.urandom(1)[0] % 64] ^= 1 << (os.urandom(1)[0] % 8)
            assert not std.verify(key.public_bytes, msg, bytes(tampered))


def test_malformed_inputs_return_false():
    key = std.generate_keypair()
    sig = std.sign(key.private_bytes, b"m")
    # S + L encodes the same scalar non-canonically: accepting it would make signatures malleable.
    s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + ED25519_L).to_bytes(32, "little")
    for pub, s in [
        (b"", sig), (key.public_bytes[:-1], sig), (key.public_bytes + b"\x00", sig),
        (key.public_bytes, sig[:-1]), (key.public_bytes, sig + b"\x00"), (key.public_bytes, b""),
        (key.public_bytes, bytes(64)), (key.public_bytes, b"\xff" * 64), (key.public_bytes, s_plus_l),
        (b"\xff" * 32, sig), ((2).to_bytes(32, "little"), sig),
    ]:
        assert std.verify(pub, b"m", s) is False
    for pub, m, s in [
        (None, b"m", sig), (key.public_bytes, None, sig), (key.public_bytes, b"m", None),
        (key.public_bytes.hex(), b"m", sig), (key.public_bytes, "m", sig), (42, b"m", sig),
    ]:
        assert std.verify(pub, m, s) is False  # type: ignore[arg-type]
    assert std.verify(bytearray(key.public_bytes), memoryview(b"m"), bytearray(sig)) is True


def test_validate_public_key_rejects_non_points_non_canonical_and_small_order():
    key = std.generate_keypair()
    std.validate_public_key(key.public_bytes)
    std.validate_public_key(bytearray(key.public_bytes))
    identity = (1).to_bytes(32, "little")
    order_2 = (ED25519_P - 1).to_bytes(32, "little")
    order_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    cases = {
        b"\x01" * 31: "32 bytes",
        key.public_bytes + b"\x00": "32 bytes",
        (2).to_bytes(32, "little"): "not a point",
        b"\xff" * 32: "non-canonical",
        ED25519_P.to_bytes(32, "little"): "non-canonical",  # y = p is y = 0, encoded out of range
        (1 | 1 << 255).to_bytes(32, "little"): "non-canonical",  # x = 0 with the sign bit set
        identity: "small-order",
        order_2: "small-order",
        bytes(32): "small-order",  # y = 0: a point of order 4
        order_8: "small-order",
    }
    for bad, reason in cases.items():
        with pytest.raises(CryptoError, match=reason):
            std.validate_public_key(bad)
    with pytest.raises(CryptoError, match="must be bytes"):
        std.validate_public_key(None)  # type: ignore[arg-type]


def test_generated_keys_always_validate():
    for _ in range(50):
        std.validate_public_key(std.generate_keypair().public_bytes)


def test_aes_gcm_known_answer():
    """McGrew & Viega GCM test cases 13 and 14 (AES-256, zero key and IV)."""
    key, nonce = bytes(32), bytes(12)
    assert std.encrypt(key, nonce, b"").hex() == "530f8afbc74536b9a963b4f1c4cb738b"
    ct_and_tag = "cea7403d4d606b6e074ec5d3baf39d18" "d0d1c8a799996bf0265b98b5d48ab919"
    assert std.encrypt(key, nonce, bytes(16)).hex() == ct_and_tag


def test_aes_gcm_roundtrip_and_tamper():
    key, nonce = os.urandom(32), os.urandom(12)
    ct = std.encrypt(key, nonce, b"secret", b"ad")
    assert len(ct) == len(b"secret") + 16
    assert std.decrypt(key, nonce, ct, b"ad") == b"secret"
    for bad in (ct[:-1] + bytes([ct[-1] ^ 1]), bytes([ct[0] ^ 1]) + ct[1:], ct[:-1], ct[:15], b""):
        with pytest.raises(CryptoError):
            std.decrypt(key, nonce, bad, b"ad")
    with pytest.raises(CryptoError):
        std.decrypt(key, nonce, ct, b"other")
    with pytest.raises(CryptoError):
        std.decrypt(os.urandom(32), nonce, ct, b"ad")
    with pytest.raises(CryptoError):
        std.encrypt(os.urandom(16), nonce, b"x")
    with pytest.raises(CryptoError):
        std.encrypt(key, os.urandom(8), b"x")
    assert std.symmetric_key_size == 32
    assert std.decrypt(key, nonce, std.encrypt(key, nonce, b"")) == b""


def test_keys_and_addresses():
    key = std.generate_keypair()
    assert key.suite == "std" and len(key.private_bytes) == 32 and len(key.public_bytes) == 32
    assert std.keypair_from_private(key.private_bytes) == key
    addr = std.address(key.public_bytes)
    assert len(addr) == ADDRESS_SIZE == 20
    assert addr == std.hash(key.public_bytes)[-20:]
    assert std.public_key_size == 32 and std.signature_size == 64 and std.name == "std"
    for bad in (b"short", b"\x01" * 33, b"", "00" * 32, None):
        with pytest.raises(CryptoError):
            std.keypair_from_private(bad)  # type: ignore[arg-type]
        with pytest.raises(CryptoError):
            std.sign(bad, b"m")  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        std.sign(key.private_bytes, "text")  # type: ignore[arg-type]


def test_libsodium_and_openssl_backends_agree():
    """Both Ed25519 backends sign byte for byte alike and accept and refuse the same signatures."""
    assert std_mod.ED25519_BACKEND == "libsodium"  # PyNaCl is a dependency
    key = std.generate_keypair()
    for message in (b"", b"m", bytes(range(256)) * 40):
        sig = std_mod._cryptography_sign(key.private_bytes, message)
        assert std.sign(key.private_bytes, message) == sig
        assert std_mod._cryptography_verify(key.public_bytes, message, sig) and std.verify(key.public_bytes, message, sig)
        bad = bytes([sig[0] ^ 1]) + sig[1:]
        assert not std_mod._cryptography_verify(key.public_bytes, message, bad) and not std.verify(key.public_bytes, message, bad)
    # A non-canonical S (S + L) is refused by both.
    L = 2**252 + 27742317777372353535851937790883648493
    sig = std.sign(key.private_bytes, b"m")
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    assert not std.verify(key.public_bytes, b"m", sig[:32] + s_plus_l)
    assert not std_mod._cryptography_verify(key.public_bytes, b"m", sig[:32] + s_plus_l)


# --- registry -------------------------------------------------------------------------------------


def test_suite_registry():
    assert SUITES == ("sm", "std")
    assert get_suite("sm") is get_suite("sm")
    assert get_suite("std") is get_suite("std")
    assert isinstance(get_suite("sm"), CryptoSuite) and isinstance(get_suite("std"), CryptoSuite)
    assert get_suite("sm").name == "sm" and get_suite("std").name == "std"
    assert KeyPair is type(get_suite("std").generate_keypair())
    with pytest.raises(CryptoError, match=r"unknown crypto suite 'rsa' \(known: sm, std\)"):
        get_suite("rsa")
    for bad in ("", "SM", None, ["sm"]):
        with pytest.raises(CryptoError, match="unknown crypto suite"):
            get_suite(bad)  # type: ignore[arg-type]


def test_get_suite_is_thread_safe():
    seen: list[CryptoSuite] = []
    threads = [threading.Thread(target=lambda: seen.append(get_suite("std"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in seen}) == 1


def test_bench_run_reports_every_suite():
    from node.crypto.bench import run

    result = run(0.01)
    assert set(result) == set(SUITES)
    for rates in result.values():
        assert set(rates) == {"hash_per_s", "sign_per_s", "verify_per_s"}
        assert all(v > 0 for v in rates.values())
