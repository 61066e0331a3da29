"""The node's TLS private key at rest: PKCS#8 PEM, plaintext or encrypted with the node home's passphrase.

Python's ``ssl`` loads a TLS key only from a file, so the key stays a standard PEM that OpenSSL and
every TLS tool read: ``PRIVATE KEY`` (plaintext) or ``ENCRYPTED PRIVATE KEY`` (PKCS#8 PBES2). A node
home has one passphrase: the TLS key is sealed with the node key's, so the two cannot drift apart
and an operator types one. Because the passphrase is shared, the TLS key's KDF must cost an
attacker as much as the node key's scrypt; ``cryptography``'s ``BestAvailableEncryption`` writes
PBKDF2 with only 2048 iterations, a cheap oracle for the shared passphrase, so this module writes
PBES2 with scrypt (N=2^14, r=8: the most OpenSSL accepts when it decrypts a PEM, 16 MiB) and
AES-256-CBC itself. Reading accepts any encrypted PKCS#8 ``cryptography`` reads (also
``openssl pkcs8 -topk8`` output). The format is in docs/transaction-format.md, "The TLS key file".
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from node.config import KEY_FILE
from node.errors import ConfigError
from node.keyfile import PassphraseSource, default_passphrase, key_info, write_private
from node.logsetup import register_secret

TLS_DIR = "tls"
NODE_KEY = "node.key"
NEXT_KEY = "node.key.next"  # a TLS key waiting for its certificate during a rotation
ENCRYPTED_BEGIN = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16

# DER object identifiers (RFC 8018, RFC 7914, NIST): PBES2, scrypt, AES-256-CBC.
_PBES2 = "1.2.840.113549.1.5.13"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"

# Passphrases that opened a home's TLS key in this process, by key file: the node checks the key at
# start and its peer layer loads it later (``tls_password``) without asking again.
_UNLOCKED: dict[Path, str] = {}


@dataclass(frozen=True)
class TlsKey:
    key: ec.EllipticCurvePrivateKey
    passphrase: str | None  # None: stored in plaintext


def tls_key_path(home: Path) -> Path:
    return Path(home) / TLS_DIR / NODE_KEY


def tls_key_files(home: Path) -> list[Path]:
    """The home's TLS keys that exist: the current one and one waiting in a rotation."""
    return [p for p in (Path(home) / TLS_DIR / NODE_KEY, Path(home) / TLS_DIR / NEXT_KEY) if p.exists()]


def companion_tls_keys(key_file: Path) -> list[Path]:
    """The TLS keys sharing ``key_file``'s passphrase: those of its home if it is a home's node key."""
    key_file = Path(key_file)
    if key_file.name != KEY_FILE or not tls_key_path(key_file.parent).exists():
        return []
    return tls_key_files(key_file.parent)


def home_passphrase(opened_with: str | None, fallback: PassphraseSource | None) -> PassphraseSource | None:
    """The source for a home's TLS key: the passphrase that just opened its node key, if any."""
    if opened_with is None:
        return fallback
    return lambda _path: opened_with


# --- encoding -------------------------------------------------------------------------------------

def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def _pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _plain_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def encode(key: ec.EllipticCurvePrivateKey, passphrase: str | None) -> bytes:
    """PKCS#8 PEM of ``key``: plaintext, or EncryptedPrivateKeyInfo with PBES2 (scrypt, AES-256-CBC)."""
    if passphrase is None:
        return _pem("PRIVATE KEY", _plain_der(key))
    salt, iv = os.urandom(SALT_BYTES), os.urandom(16)
    secret = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())
    padder = padding.PKCS7(128).padder()
    padded = padder.update(_plain_der(key)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padded) + encryptor.finalize()
    kdf = _seq(_oid(_SCRYPT), _seq(_der(0x04, salt), _int(SCRYPT_N), _int(SCRYPT_R), _int(SCRYPT_P)))
    scheme = _seq(_oid(_AES256_CBC), _der(0x04, iv))
    return _pem("ENCRYPTED PRIVATE KEY", _seq(_seq(_oid(_PBES2), _seq(kdf, scheme)), _der(0x04, sealed)))


def is_encrypted(pem: bytes) -> bool:
    return pem.lstrip().startswith(ENCRYPTED_BEGIN)


def decode(pem: bytes, passphrase: str | None, path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in ``pem``; one ConfigError naming ``path`` for a wrong passphrase or a bad file."""
    if is_encrypted(pem) and passphrase is None:
        raise ConfigError(f"TLS key file {path} is encrypted and no passphrase was given")
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode() if is_encrypted(pem) and passphrase is not None else None)
    except ValueError as exc:
        if is_encrypted(pem) and "password" in str(exc).lower():
            raise ConfigError(f"TLS key file {path}: wrong passphrase (it is sealed with the passphrase of the home's "
                              f"{KEY_FILE}: one passphrase per node home)") from None
        raise ConfigError(f"TLS key file {path} is not a PKCS#8 PEM private key ({exc})") from None
    except TypeError as exc:
        raise ConfigError(f"TLS key file {path} is not a PKCS#8 PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"TLS key file {path} must hold an ECDSA P-256 key")
    return key


def _register(key: ec.EllipticCurvePrivateKey, passphrase: str | None) -> None:
    """The log scrubber learns the key (its scalar and its plaintext PEM lines) and the passphrase."""
    register_secret(key.private_numbers().private_value.to_bytes(32, "big"))
    for line in _pem("PRIVATE KEY", _plain_der(key)).decode().splitlines():
        if not line.startswith("-----"):
            register_secret(line)
    if passphrase is not None:
        register_secret(passphrase)


# --- files ----------------------------------------------------------------------------------------

def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"TLS key file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"TLS key file {path}: {exc.strerror or exc}") from None


def ask_path(home: Path, path: Path) -> Path:
    """Which file a passphrase prompt names: the home's node key when it is encrypted (so a
    remembered answer for it serves the TLS key too), else the TLS key itself."""
    node_key = Path(home) / KEY_FILE
    try:
        return node_key if key_info(node_key).encrypted else path
    except ConfigError:
        return path


def open_tls_key(path: Path, home: Path, passphrase: PassphraseSource | None = None) -> TlsKey:
    """Read the TLS key at ``path`` of node home ``home``, asking ``passphrase`` (default: the
    environment or a prompt) only if it is encrypted and not opened before in this process."""
    path = Path(path)
    pem = _read(path)
    if not is_encrypted(pem):
        key = decode(pem, None, path)
        _register(key, None)
        return TlsKey(key=key, passphrase=None)
    remembered = _UNLOCKED.get(path.resolve())
    if remembered is not None and passphrase is None:
        try:
            key = decode(pem, remembered, path)
            return TlsKey(key=key, passphrase=remembered)
        except ConfigError:
            pass  # re-encrypted since: ask
    secret = (passphrase or default_passphrase)(ask_path(home, path))
    key = decode(pem, secret, path)
    _UNLOCKED[path.resolve()] = secret
    _register(key, secret)
    return TlsKey(key=key, passphrase=secret)


def tls_password(home: Path, passphrase: PassphraseSource | None = None) -> str:
    """The password ``ssl.SSLContext.load_cert_chain`` needs for the home's TLS key ("" if plaintext).
    One that opened the key before in this process is returned unchecked: OpenSSL checks it anyway,
    and each scrypt costs about 0.1 s."""
    path = tls_key_path(home)
    if not is_encrypted(_read(path)):
        return ""
    remembered = _UNLOCKED.get(path.resolve())
    if remembered is not None and passphrase is None:
        return remembered
    return open_tls_key(path, home, passphrase).passphrase or ""


def write_tls_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: str | None) -> None:
    """Write ``key`` (sealed when ``passphrase`` is given) with mode 0600."""
    write_private(path, encode(key, passphrase).decode())
    _register(key, passphrase)
