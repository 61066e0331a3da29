"""The ``sm`` suite: SM3 / SM4 / SM2 against published vectors, SM2 cross-checked with gmssl both ways.

gmssl is pure Python and independent of OpenSSL/Tongsuo, so agreement in both directions (and on
the GB/T 32918 worked example) is the evidence that the node's SM2 really applies Z_A for the
default user id rather than signing a bare SM3 digest.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import func as gm_func
from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3

from node.crypto import get_suite
from node.crypto import sm as sm_mod
from node.crypto.sm import DEFAULT_USER_ID, SM2_N
from node.errors import CryptoError

sm = get_suite("sm")

# SM2 recommended curve (GB/T 32918.5), p and the other parameters that enter Z_A.
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
SM2_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


# --- SM3 (GB/T 32905) -----------------------------------------------------------------------------


def test_sm3_vectors_gbt_32905():
    assert sm.hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm.hash(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_matches_gmssl_on_random_inputs():
    for n in (0, 1, 55, 56, 63, 64, 65, 256, 1000):
        data = os.urandom(n)
        assert sm.hash(data).hex() == gm_sm3.sm3_hash(gm_func.bytes_to_list(data))


def test_every_sm3_backend_agrees():
    """The import-time fallback chain is only safe if every link computes the same function."""
    data = os.urandom(300)
    digests = {fn(data) for fn in (sm_mod._sm3_hashlib, sm_mod._sm3_tongsuo, sm_mod._sm3_gmssl)}
    assert digests == {sm.hash(data)}
    assert sm_mod.SM3_BACKEND in ("hashlib", "tongsuopy", "gmssl")


# --- SM4 (GB/T 32907) -----------------------------------------------------------------------------


SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_CT = "681edf34d206965e86b3e94f536e4246"


def test_sm4_block_vector_gbt_32907():
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert (enc.update(SM4_KEY) + enc.finalize()).hex() == SM4_CT


def test_sm4_block_vector_on_tongsuo_fallback():
    from tongsuopy.crypto.ciphers import Cipher as TsCipher
    from tongsuopy.crypto.ciphers import algorithms as ts_algorithms
    from tongsuopy.crypto.ciphers import modes as ts_modes

    enc = TsCipher(ts_algorithms.SM4(SM4_KEY), ts_modes.ECB()).encryptor()
    assert (enc.update(SM4_KEY) + enc.finalize()).hex() == SM4_CT


def test_sm4_gcm_roundtrip_and_tamper_detection():
    key, nonce = os.urandom(16), os.urandom(12)
    ct = sm.encrypt(key, nonce, b"raw data stays off chain", b"task-7")
    assert len(ct) == len(b"raw data stays off chain") + 16
    assert sm.decrypt(key, nonce, ct, b"task-7") == b"raw data stays off chain"
    for bad in (ct[:-1] + bytes([ct[-1] ^ 1]), bytes([ct[0] ^ 1]) + ct[1:], ct[:-1], ct[1:]):
        with pytest.raises(CryptoError):
            sm.decrypt(key, nonce, bad, b"task-7")
    with pytest.raises(CryptoError):
        sm.decrypt(key, nonce, ct, b"task-8")
    with pytest.raises(CryptoError):
        sm.decrypt(os.urandom(16), nonce, ct, b"task-7")
    with pytest.raises(CryptoError):
        sm.decrypt(key, os.urandom(12), ct, b"task-7")
    with pytest.raises(CryptoError):
        sm.decrypt(key, nonce, ct[:15])
    with pytest.raises(CryptoError):
        sm.encrypt(os.urandom(32), nonce, b"x")
    with pytest.raises(CryptoError):
        sm.encrypt(key, os.urandom(16), b"x")
    assert sm.symmetric_key_size == 16
    assert sm.decrypt(key, nonce, sm.encrypt(key, nonce, b"")) == b""


def test_sm4_gcm_backends_interoperate():
    """cryptography's and Tongsuo's SM4-GCM produce the same bytes, so the fallback is wire-compatible."""
    key, nonce, ad, msg = os.urandom(16), os.urandom(12), b"ad", os.urandom(100)
    outputs = set()
    for load in sm_mod.SM4_GCM_BACKENDS.values():
        cipher, sm4, gcm, _ = load()
        assert sm_mod._sm4_gcm_works((cipher, sm4, gcm, _))
        enc = cipher(sm4(key), gcm(nonce)).encryptor()
        enc.authenticate_additional_data(ad)
        outputs.add(enc.update(msg) + enc.finalize() + enc.tag)
    assert outputs == {sm.encrypt(key, nonce, msg, ad)}


# --- SM2 (GB/T 32918): published example ------------------------------------------------------------

# GB/T 32918.2-2016 / GM/T 0003.5 worked example on the recommended curve, default user id.
EX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
EX_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
EX_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
EX_ZA = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
EX_MSG = b"message digest"
EX_E = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640"
EX_K = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
EX_R = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
EX_S = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"


def _za(x: int, y: int, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A), computed here from the standard."""
    entl = (len(user_id) * 8).to_bytes(2, "big")
    fields = (SM2_A, SM2_B, SM2_GX, SM2_GY, x, y)
    return sm.hash(entl + user_id + b"".join(v.to_bytes(32, "big") for v in fields))


def test_sm2_published_example_key_and_za():
    key = sm.keypair_from_private(EX_D.to_bytes(32, "big"))
    assert key.public_bytes == b"\x04" + EX_X.to_bytes(32, "big") + EX_Y.to_bytes(32, "big")
    za = _za(EX_X, EX_Y)
    assert za.hex() == EX_ZA
    assert sm.hash(za + EX_MSG).hex() == EX_E


def test_sm2_published_example_signature_verifies_under_node():
    key = sm.keypair_from_private(EX_D.to_bytes(32, "big"))
    sig = bytes.fromhex(EX_R + EX_S)
    assert sm.verify(key.public_bytes, EX_MSG, sig)
    assert not sm.verify(key.public_bytes, b"message digesT", sig)
    # The same (r, s) as a signature over the bare message digest, without Z_A, must not verify.
    assert not sm.verify(key.public_bytes, bytes.fromhex(EX_E), sig)


def test_sm2_published_example_reproduced_by_gmssl_with_fixed_k():
    """gmssl, fed e = SM3(Z_A || M) computed by the node and the example's k, yields the published r || s."""
    crypt = _gmssl_for(EX_D.to_bytes(32, "big"), EX_X.to_bytes(32, "big") + EX_Y.to_bytes(32, "big"))
    e = sm.hash(_za(EX_X, EX_Y) + EX_MSG)
    assert crypt.sign(e, EX_K) == EX_R + EX_S
    assert crypt.sign_with_sm3(EX_MSG, EX_K) == EX_R + EX_S


# --- SM2: cross-check with gmssl in both directions ------------------------------------------------


def _gmssl_for(private: bytes, public_xy: bytes) -> gm_sm2.CryptSM2:
    crypt = gm_sm2.CryptSM2(private_key=private.hex(), public_key="00")
    # Set after construction: CryptSM2 does ``public_key.lstrip("04")``, which would eat the leading
    # digits of an X coordinate that happens to begin with "04".
    crypt.public_key = public_xy.hex()
    return crypt


def _gmssl(key) -> gm_sm2.CryptSM2:
    return _gmssl_for(key.private_bytes, key.public_bytes[1:])


MESSAGE_LENGTHS = (0, 1, 32, 64, 300, 4096)


def test_node_signatures_verify_under_gmssl():
    for _ in range(4):
        key = sm.generate_keypair()
        crypt = _gmssl(key)
        for length in MESSAGE_LENGTHS:
            msg = os.urandom(length)
            sig = sm.sign(key.private_bytes, msg)
            assert len(sig) == 64
            assert crypt.verify_with_sm3(sig.hex(), msg)
            assert not crypt.verify_with_sm3(sig.hex(), msg + b"!")


def test_gmssl_signatures_verify_under_node():
    for _ in range(4):
        key = sm.generate_keypair()
        other = sm.generate_keypair()
        crypt = _gmssl(key)
        for length in MESSAGE_LENGTHS:
            msg = os.urandom(length)
            sig = bytes.fromhex(crypt.sign_with_sm3(msg))
            assert sm.verify(key.public_bytes, msg, sig)
            assert not sm.verify(key.public_bytes, msg + b"!", sig)
            assert not sm.verify(other.public_bytes, msg, sig)
            tampered = bytearray(sig)
            tampered[os.urandom(1)[0] % 64] ^= 1 << (os.urandom(1)[0] % 8)
            assert not sm.verify(key.public_bytes, msg, bytes(tampered))


def test_keys_from_gmssl_style_hex_roundtrip():
    """A key pair gmssl would use (private scalar hex, X||Y hex) maps to the node's wire format."""
    key = sm.generate_keypair()
    rebuilt = sm.keypair_from_private(bytes.fromhex(key.private_bytes.hex()))
    assert rebuilt == key
    assert _gmssl(key).public_key == key.public_bytes[1:].hex()


def test_signature_is_over_za_not_plain_sm3():
    """Signatures over SM3(M) or M itself (what a naive ECDSA-style SM2 would make) must fail."""
    key = sm.generate_keypair()
    msg = b"consortia"
    crypt = _gmssl(key)
    for e in (msg, sm.hash(msg)):
        sig = crypt.sign(e, gm_func.random_hex(crypt.para_len))
        assert not sm.verify(key.public_bytes, msg, bytes.fromhex(sig))
        assert crypt.verify(sig, e)  # it is a valid raw SM2 signature, just not one with Z_A


def test_signatures_are_randomized_and_each_verifies():
    key = sm.generate_keypair()
    sigs = {sm.sign(key.private_bytes, b"m") for _ in range(5)}
    assert len(sigs) == 5
    assert all(sm.verify(key.public_bytes, b"m", s) for s in sigs)


# --- robustness -------------------------------------------------------------------------------------


def test_malformed_inputs_return_false():
    key = sm.generate_keypair()
    msg = b"m"
    sig = sm.sign(key.private_bytes, msg)
    r, s = sig[:32], sig[32:]
    zero = bytes(32)
    n = SM2_N.to_bytes(32, "big")
    n_plus = (SM2_N + 1).to_bytes(32, "big")
    off_curve = b"\x04" + b"\x01" * 64
    x_too_big = b"\x04" + SM2_P.to_bytes(32, "big") + key.public_bytes[33:]
    cases = [
        (b"", sig),
        (key.public_bytes[:-1], sig),
        (key.public_bytes + b"\x00", sig),
        (off_curve, sig),
        (x_too_big, sig),
        (b"\x04" + bytes(64), sig),
        (b"\x02" + key.public_bytes[1:], sig),
        (key.public_bytes[:33], sig),  # compressed-length
        (key.public_bytes, b""),
        (key.public_bytes, sig[:-1]),
        (key.public_bytes, sig + b"\x00"),
        (key.public_bytes, bytes(64)),
        (key.public_bytes, zero + s),
        (key.public_bytes, r + zero),
        (key.public_bytes, n + s),
        (key.public_bytes, r + n),
        (key.public_bytes, n_plus + s),
        (key.public_bytes, r + n_plus),
        (key.public_bytes, b"\xff" * 64),
        (key.public_bytes, s + r),
    ]
    for pub, bad_sig in cases:
        assert sm.verify(pub, msg, bad_sig) is False, (pub.hex(), bad_sig.hex())
    for pub, m, bad_sig in [
        (None, msg, sig), (key.public_bytes, None, sig), (key.public_bytes, msg, None),
        (key.public_bytes.hex(), msg, sig), (key.public_bytes, "m", sig), (key.public_bytes, msg, 7),
        (1234, msg, sig),
    ]:
        assert sm.verify(pub, m, bad_sig) is False  # type: ignore[arg-type]
    assert sm.verify(key.public_bytes, msg, sig) is True


def test_verify_accepts_bytes_like_inputs():
    key = sm.generate_keypair()
    sig = sm.sign(key.private_bytes, b"m")
    assert sm.verify(bytearray(key.public_bytes), bytearray(b"m"), bytearray(sig))
    assert sm.verify(memoryview(key.public_bytes), memoryview(b"m"), memoryview(sig))


def test_keys_roundtrip_and_validation():
    key = sm.generate_keypair()
    assert key.suite == "sm"
    assert len(key.private_bytes) == 32
    assert sm.keypair_from_private(key.private_bytes) == key
    assert len(key.public_bytes) == 65 and key.public_bytes[0] == 4
    sm.validate_public_key(key.public_bytes)
    sm.validate_public_key(bytearray(key.public_bytes))
    for bad in (
        b"\x04" + b"\x01" * 64,
        key.public_bytes[:64],
        b"\x03" + key.public_bytes[1:33],
        b"\x02" + key.public_bytes[1:],
        b"",
        b"\x04" + bytes(64),
        b"\x04" + SM2_P.to_bytes(32, "big") + key.public_bytes[33:],
    ):
        with pytest.raises(CryptoError):
            sm.validate_public_key(bad)
    with pytest.raises(CryptoError, match="must be bytes"):
        sm.validate_public_key(key.public_bytes.hex())  # type: ignore[arg-type]


def test_private_key_range_is_1_to_n_minus_2():
    one = sm.keypair_from_private((1).to_bytes(32, "big"))
    assert one.public_bytes == b"\x04" + SM2_GX.to_bytes(32, "big") + SM2_GY.to_bytes(32, "big")
    top = sm.keypair_from_private((SM2_N - 2).to_bytes(32, "big"))
    assert sm.verify(top.public_bytes, b"m", sm.sign(top.private_bytes, b"m"))
    for bad in (bytes(32), (SM2_N - 1).to_bytes(32, "big"), SM2_N.to_bytes(32, "big"), b"\xff" * 32, b"\x01" * 31,
                b"\x01" * 33, b""):
        with pytest.raises(CryptoError):
            sm.keypair_from_private(bad)
        with pytest.raises(CryptoError):
            sm.sign(bad, b"m")
    with pytest.raises(CryptoError):
        sm.keypair_from_private("00" * 32)  # type: ignore[arg-type]


def test_sign_rejects_non_bytes_message():
    key = sm.generate_keypair()
    with pytest.raises(CryptoError):
        sm.sign(key.private_bytes, "text")  # type: ignore[arg-type]


def test_public_key_cache_does_not_remember_failures():
    sm_mod._public_key.cache_clear()
    assert not sm.verify(b"\x04" + b"\x01" * 64, b"m", bytes(range(1, 65)))
    assert sm_mod._public_key.cache_info().currsize == 0
    key = sm.generate_keypair()
    sig = sm.sign(key.private_bytes, b"m")
    for _ in range(3):
        assert sm.verify(key.public_bytes, b"m", sig)
    info = sm_mod._public_key.cache_info()
    assert info.currsize == 1 and info.hits >= 2


def test_address_is_last_20_bytes_of_sm3_of_pubkey():
    key = sm.generate_keypair()
    addr = sm.address(key.public_bytes)
    assert len(addr) == 20
    assert addr == sm.hash(key.public_bytes)[-20:]
    assert sm.public_key_size == 65 and sm.signature_size == 64 and sm.name == "sm"
