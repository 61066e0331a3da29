"""Key files at rest: sealing and opening under a passphrase, and every way a file can be wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from node.crypto import get_suite
from node.errors import ConfigError
from node.keyfile import (
    PASSPHRASE_ENV,
    default_passphrase,
    key_info,
    load_key,
    passphrase_from_file,
    save_key,
)

PASS = "correct horse battery"


def _const(value: str):
    return lambda path: value


@pytest.mark.parametrize("suite_name, cipher", [("std", "aes-256-gcm"), ("sm", "sm4-gcm")])
def test_an_encrypted_key_opens_with_its_passphrase_only(tmp_path, suite_name, cipher):
    key = get_suite(suite_name).generate_keypair()
    path = tmp_path / "node.key"
    save_key(path, key, PASS)
    raw = json.loads(path.read_text())
    assert "private_key" not in raw and key.private_bytes.hex() not in path.read_text()
    assert raw["encrypted_private_key"]["cipher"] == cipher and raw["encrypted_private_key"]["kdf"] == "scrypt"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert load_key(path, _const(PASS)).private_bytes == key.private_bytes
    info = key_info(path)
    assert info.encrypted and info.suite == suite_name and info.public_key == key.public_bytes
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_key(path, _const(PASS + "!"))


def test_a_swapped_public_key_or_altered_ciphertext_is_refused(tmp_path):
    suite = get_suite("std")
    key, other = suite.generate_keypair(), suite.generate_keypair()
    path = tmp_path / "node.key"
    save_key(path, key, PASS)
    raw = json.loads(path.read_text())
    swapped = {**raw, "public_key": "0x" + other.public_bytes.hex()}
    path.write_text(json.dumps(swapped))
    with pytest.raises(ConfigError, match="wrong passphrase, or the file was altered"):
        load_key(path, _const(PASS))
    body = raw["encrypted_private_key"]["ciphertext"]
    flipped = body[:-1] + ("0" if body[-1] != "0" else "1")
    path.write_text(json.dumps({**raw, "encrypted_private_key": {**raw["encrypted_private_key"], "ciphertext": flipped}}))
    with pytest.raises(ConfigError, match="altered"):
        load_key(path, _const(PASS))


@pytest.mark.parametrize("change, message", [
    ({"kdf": "pbkdf2"}, "kdf 'scrypt'"),
    ({"cipher": "des"}, "cipher"),
    ({"n": 2**30}, "out of range"),
    ({"n": 1000}, "out of range"),
    ({"r": "8"}, "integers"),
    ({"nonce": "0x00"}, "wrong length"),
    ({"salt": "abcd"}, "0x-hex"),
])
def test_malformed_sealed_members_get_one_clear_error(tmp_path, change, message):
    key = get_suite("std").generate_keypair()
    path = tmp_path / "node.key"
    save_key(path, key, PASS)
    raw = json.loads(path.read_text())
    raw["encrypted_private_key"].update(change)
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=message):
        load_key(path, _const(PASS))


def test_loose_permissions_are_refused_and_rewriting_tightens_them(tmp_path):
    key = get_suite("sm").generate_keypair()
    path = tmp_path / "admin.key"
    path.write_text("{}")
    path.chmod(0o644)
    save_key(path, key)  # an existing 0644 file becomes 0600
    assert (path.stat().st_mode & 0o777) == 0o600
    path.chmod(0o640)
    with pytest.raises(ConfigError, match=r"accessible to other users \(mode 0640\); run: chmod 600"):
        load_key(path)
    path.chmod(0o600)
    assert load_key(path).public_bytes == key.public_bytes


def test_short_passphrases_are_refused_when_sealing(tmp_path):
    with pytest.raises(ConfigError, match="at least 8"):
        save_key(tmp_path / "k", get_suite("std").generate_keypair(), "short")


def test_passphrase_sources(tmp_path, monkeypatch):
    secret = tmp_path / "pass"
    secret.write_text(PASS + "\nignored\n")
    secret.chmod(0o600)
    assert passphrase_from_file(secret)(tmp_path / "k") == PASS
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="passphrase file .* accessible to other users"):
        passphrase_from_file(secret)(tmp_path / "k")
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert default_passphrase(tmp_path / "k") == PASS
    monkeypatch.delenv(PASSPHRASE_ENV)
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    with pytest.raises(ConfigError, match="is encrypted: give its passphrase"):
        default_passphrase(tmp_path / "k")


def test_an_encrypted_key_without_a_passphrase_source_uses_the_environment(tmp_path, monkeypatch):
    key = get_suite("std").generate_keypair()
    save_key(tmp_path / "k", key, PASS)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert load_key(tmp_path / "k").private_bytes == key.private_bytes


@pytest.mark.parametrize("text, message", [("not json", "invalid"), ("[]", "not a JSON object"), ('{"suite": "rsa"}', "suite")])
def test_corrupted_key_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "node.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=message) as err:
        load_key(path)
    assert str(path) in err.value.message


def test_missing_key_file():
    with pytest.raises(ConfigError, match="not found"):
        load_key(Path("/nonexistent/node.key"))
