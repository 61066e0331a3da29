"""Key files: plaintext or encrypted at rest with a passphrase (scrypt + AEAD), and where passphrases come from.

A bank's node key signs blocks for years; a stolen disk image or backup must not hand it over.
An encrypted file keeps the suite and public key readable (so ``key show`` and ``node check``
work without the passphrase) and seals the private key with an AEAD keyed by scrypt(passphrase):
AES-256-GCM for ``std`` and SM4-GCM for ``sm`` (a national-standard chain keeps national-standard
ciphers). The suite and public key are the AEAD's associated data, so a file whose public half was
swapped fails to open instead of signing as someone else. The format is in
docs/transaction-format.md, "Key files".
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from node.crypto import get_suite
from node.crypto.base import KeyPair
from node.errors import ConfigError, ConsortiaError
from node.logsetup import register_secret

PASSPHRASE_ENV = "CONSORTIA_KEY_PASSPHRASE"
MIN_PASSPHRASE_CHARS = 8
CIPHER_OF_SUITE = {"std": "aes-256-gcm", "sm": "sm4-gcm"}
_KEY_BYTES = {"aes-256-gcm": 32, "sm4-gcm": 16}
# scrypt cost: N=2^15, r=8 takes about 0.1 s and 32 MiB here; files record their own values, and
# opening accepts N up to 2^20 so a file written with a higher cost still opens.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAX_SCRYPT_N = 2**20


@dataclass(frozen=True)
class KeyFileInfo:
    """What a key file says without its passphrase."""

    suite: str
    public_key: bytes
    encrypted: bool


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} must be 0x-hex")
    return bytes.fromhex(value[2:])


def _aead(cipher: str, key: bytes, nonce: bytes) -> Cipher[modes.GCM]:
    algorithm = algorithms.AES(key) if cipher == "aes-256-gcm" else algorithms.SM4(key)
    return Cipher(algorithm, modes.GCM(nonce))


def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(passphrase.encode())


def _associated_data(suite: str, public_key: bytes) -> bytes:
    return b"consortia-key-v1|" + suite.encode() + b"|" + public_key


def seal(key: KeyPair, passphrase: str) -> dict[str, Any]:
    """The ``encrypted_private_key`` member for ``key`` under ``passphrase``."""
    check_new_passphrase(passphrase)
    cipher = CIPHER_OF_SUITE[key.suite]
    salt, nonce = os.urandom(16), os.urandom(12)
    encryptor = _aead(cipher, _kdf(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, _KEY_BYTES[cipher]), nonce).encryptor()
    encryptor.authenticate_additional_data(_associated_data(key.suite, key.public_bytes))
    body = encryptor.update(key.private_bytes) + encryptor.finalize()
    return {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": "0x" + salt.hex(), "cipher": cipher,
            "nonce": "0x" + nonce.hex(), "ciphertext": "0x" + (body + encryptor.tag).hex()}


def unseal(suite: str, public_key: bytes, sealed: Any, passphrase: str) -> bytes:
    """The private key inside ``sealed``; ValueError if the passphrase is wrong or the file was altered."""
    if not isinstance(sealed, dict) or sealed.get("kdf") != "scrypt" or sealed.get("cipher") not in _KEY_BYTES:
        raise ValueError("encrypted_private_key must use kdf 'scrypt' and cipher 'aes-256-gcm' or 'sm4-gcm'")
    n, r, p = sealed.get("n"), sealed.get("r"), sealed.get("p")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        raise ValueError("scrypt n, r and p must be integers")
    assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
    if not (2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range (n a power of two up to 2^20, r 1..32, p 1..16)")
    salt, nonce, body = _hex(sealed.get("salt"), "salt"), _hex(sealed.get("nonce"), "nonce"), _hex(sealed.get("ciphertext"), "ciphertext")
    if len(salt) < 16 or len(nonce) != 12 or len(body) <= 16:
        raise ValueError("salt (16+ bytes), nonce (12 bytes) or ciphertext has the wrong length")
    cipher = sealed["cipher"]
    decryptor = _aead(cipher, _kdf(passphrase, salt, n, r, p, _KEY_BYTES[cipher]), nonce).decryptor()
    decryptor.authenticate_additional_data(_associated_data(suite, public_key))
    try:
        return decryptor.update(body[:-16]) + decryptor.finalize_with_tag(body[-16:])
    except InvalidTag:
        raise ValueError("wrong passphrase, or the file was altered") from None


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ConfigError(f"a key passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")


# --- where a passphrase comes from --------------------------------------------------------------

PassphraseSource = Callable[[Path], str]


def passphrase_from_file(path: Path) -> PassphraseSource:
    """The first line of ``path`` (which must itself be private to its owner)."""

    def read(key_path: Path) -> str:
        check_private(path, "passphrase file")
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"passphrase file {path}: {exc.strerror or exc}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"passphrase file {path} is empty")
        return lines[0]

    return read


def default_passphrase(key_path: Path) -> str:
    """``$CONSORTIA_KEY_PASSPHRASE`` if set, else a prompt on the terminal; no terminal: an error."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"passphrase for {key_path}: ")
    raise ConfigError(f"key file {key_path} is encrypted: give its passphrase with --passphrase-file, "
                      f"${PASSPHRASE_ENV} or on a terminal")


# --- files --------------------------------------------------------------------------------------

def check_private(path: Path, what: str = "key file") -> None:
    """Refuse a secret file that group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what} {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
                          f"run: chmod 600 {path}")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, also when the file existed with a looser mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def replace_private_files(contents: dict[Path, str]) -> None:
    """Replace several secret files together (mode 0600): all of them, or on any error none.

    Each new text goes to a temporary file beside its target and is synced first, so nothing is
    replaced before every file is written; if a rename then fails, the files already replaced get
    their old text back. (A power cut between two renames, microseconds apart, can still split them.)"""
    staged: dict[Path, Path] = {}
    try:
        for path, text in contents.items():
            tmp = path.with_name(path.name + ".tmp")
            write_private(tmp, text)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            staged[path] = tmp
        old = {path: path.read_text() if path.exists() else None for path in contents}
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    done: list[Path] = []
    try:
        for path, tmp in staged.items():
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for path in done:
            previous = old[path]
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                write_private(path, previous)
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise


def key_file_text(key: KeyPair, passphrase: str | None = None) -> str:
    """A key file's JSON text, the private key sealed when ``passphrase`` is given."""
    body: dict[str, Any] = {"suite": key.suite}
    if passphrase is None:
        body["private_key"] = "0x" + key.private_bytes.hex()
    else:
        body["encrypted_private_key"] = seal(key, passphrase)
    body["public_key"] = "0x" + key.public_bytes.hex()
    return json.dumps(body, indent=2) + "\n"


def save_key(path: Path, key: KeyPair, passphrase: str | None = None) -> None:
    """Write a key file readable only by its owner, sealed when ``passphrase`` is given."""
    write_private(path, key_file_text(key, passphrase))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"key file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"key file {path} is invalid ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"key file {path} is invalid (not a JSON object)")
    return raw


def key_info(path: Path) -> KeyFileInfo:
    """Suite, public key and whether the file is encrypted, without the passphrase."""
    raw = _read_json(path)
    try:
        suite = get_suite(raw["suite"])
        public = _hex(raw["public_key"], "public_key")
        suite.validate_public_key(public)
    except ConsortiaError as exc:
        raise ConfigError(f"key file {path}: {exc.message}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"key file {path} is invalid ({exc.__class__.__name__}: {exc})") from None
    return KeyFileInfo(suite=suite.name, public_key=public, encrypted="encrypted_private_key" in raw)


def load_key(path: Path, passphrase: PassphraseSource | None = None) -> KeyPair:
    """Read a key file (asking ``passphrase`` if it is encrypted); every fault is one ConfigError naming the file."""
    return load_key_and_passphrase(path, passphrase)[0]


def load_key_and_passphrase(path: Path, passphrase: PassphraseSource | None = None) -> tuple[KeyPair, str | None]:
    """``load_key``, and the passphrase that opened the file (None for a plaintext one): a node
    home's other secrets (its TLS key) are sealed with the same passphrase."""
    path = Path(path)
    raw = _read_json(path)
    check_private(path)
    secret: str | None = None
    try:
        suite = get_suite(raw["suite"])
        if "encrypted_private_key" in raw:
            public = _hex(raw.get("public_key"), "public_key")
            secret = (passphrase or default_passphrase)(path)
            private = unseal(suite.name, public, raw["encrypted_private_key"], secret)
            register_secret(secret)
        else:
            private = _hex(raw["private_key"], "private_key")
        key = suite.keypair_from_private(private)
        public_hex = raw.get("public_key")
        if public_hex is not None and (not isinstance(public_hex, str) or public_hex.lower() != "0x" + key.public_bytes.hex()):
            # A file edited by hand or by another tool: refuse rather than sign as someone else.
            raise ValueError("public_key does not belong to private_key")
    except ConsortiaError as exc:
        raise ConfigError(f"key file {path}: {exc.message}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"key file {path} is invalid ({exc.__class__.__name__}: {exc})") from None
    register_secret(key.private_bytes)
    return key, secret
