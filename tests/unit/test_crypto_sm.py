"""SM3 / SM4 against the published vectors, SM2 cross-checked with gmssl in both directions."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3, func as gm_func

from node.crypto import get_suite
from node.crypto.sm import SM2_N
from node.errors import CryptoError

sm = get_suite("sm")


def test_sm3_vectors_gbt_32905():
    assert sm.hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm.hash(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_matches_gmssl_on_random_inputs():
    for n in (0, 1, 55, 56, 64, 1000):
        data = os.urandom(n)
        assert sm.hash(data).hex() == gm_sm3.sm3_hash(gm_func.bytes_to_list(data))


def test_sm4_block_vector_gbt_32907():
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (enc.update(key) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_roundtrip_and_tamper_detection():
    key, nonce = os.urandom(16), os.urandom(12)
    ct = sm.encrypt(key, nonce, b"raw data stays off chain", b"task-7")
    assert sm.decrypt(key, nonce, ct, b"task-7") == b"raw data stays off chain"
    for bad in (ct[:-1] + bytes([ct[-1] ^ 1]), bytes([ct[0] ^ 1]) + ct[1:]):
        with pytest.raises(CryptoError):
            sm.decrypt(key, nonce, bad, b"task-7")
    with pytest.raises(CryptoError):
        sm.decrypt(key, nonce, ct, b"task-8")
    with pytest.raises(CryptoError):
        sm.encrypt(os.urandom(32), nonce, b"x")


def _gmssl(key):
    return gm_sm2.CryptSM2(private_key=key.private_bytes.hex(), public_key=key.public_bytes[1:].hex())


@pytest.mark.parametrize("length", [0, 1, 32, 300, 4096])
def test_node_signatures_verify_under_gmssl(length):
    key = sm.generate_keypair()
    msg = os.urandom(length)
    sig = sm.sign(key.private_bytes, msg)
    assert len(sig) == 64
    assert _gmssl(key).verify_with_sm3(sig.hex(), msg)
    assert not _gmssl(key).verify_with_sm3(sig.hex(), msg + b"!")


@pytest.mark.parametrize("length", [0, 1, 32, 300])
def test_gmssl_signatures_verify_under_node(length):
    key = sm.generate_keypair()
    msg = os.urandom(length)
    sig = bytes.fromhex(_gmssl(key).sign_with_sm3(msg))
    assert sm.verify(key.public_bytes, msg, sig)
    assert not sm.verify(key.public_bytes, msg + b"!", sig)
    other = sm.generate_keypair()
    assert not sm.verify(other.public_bytes, msg, sig)


def test_signature_is_over_za_not_plain_sm3():
    """A signature over SM3(M) without Z_A (what a naive ECDSA-style SM2 would make) must fail."""
    key = sm.generate_keypair()
    msg = b"consortia"
    crypt = _gmssl(key)
    k = gm_func.random_hex(crypt.para_len)
    plain = crypt.sign(msg, k)  # gmssl's raw sign: e = the message itself, no Z_A / SM3
    assert not sm.verify(key.public_bytes, msg, bytes.fromhex(plain))


def test_malformed_inputs_return_false():
    key = sm.generate_keypair()
    msg = b"m"
    sig = sm.sign(key.private_bytes, msg)
    off_curve = b"\x04" + b"\x01" * 64
    n = SM2_N.to_bytes(32, "big")
    for pub, s in [
        (b"", sig), (key.public_bytes[:-1], sig), (off_curve, sig), (b"\x02" + key.public_bytes[1:], sig),
        (key.public_bytes, b""), (key.public_bytes, sig[:-1]), (key.public_bytes, bytes(64)),
        (key.public_bytes, n + sig[32:]), (key.public_bytes, sig[:32] + n), (key.public_bytes, b"\xff" * 64),
    ]:
        assert sm.verify(pub, msg, s) is False


def test_keys_roundtrip_and_validation():
    key = sm.generate_keypair()
    assert sm.keypair_from_private(key.private_bytes) == key
    assert len(key.public_bytes) == 65 and key.public_bytes[0] == 4
    sm.validate_public_key(key.public_bytes)
    for bad in (b"\x04" + b"\x01" * 64, key.public_bytes[:64], b"\x03" + key.public_bytes[1:33]):
        with pytest.raises(CryptoError):
            sm.validate_public_key(bad)
    for bad in (bytes(32), SM2_N.to_bytes(32, "big"), b"\x01" * 31):
        with pytest.raises(CryptoError):
            sm.keypair_from_private(bad)


def test_address_is_last_20_bytes_of_sm3_of_pubkey():
    key = sm.generate_keypair()
    assert sm.address(key.public_bytes) == sm.hash(key.public_bytes)[-20:]
