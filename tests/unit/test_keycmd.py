"""``consortia key``: new, import, show, export-public and change-passphrase, plaintext and encrypted."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.cli.main import main
from node.crypto import get_suite
from node.keyfile import key_info, load_key

PASS = "a long enough passphrase"


def _passfile(tmp_path, name="pass", text=PASS):
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("suite", ["sm", "std"])
def test_new_encrypted_then_show_export_and_change(tmp_path, capsys, suite):
    out = tmp_path / "admin.key"
    assert main(["key", "new", "--suite", suite, "--out", str(out), "--encrypt", "--passphrase-file", str(_passfile(tmp_path))]) == 0
    assert "encrypted:  yes" in capsys.readouterr().out
    assert main(["key", "show", str(out)]) == 0  # no passphrase needed to see the public half
    shown = capsys.readouterr().out
    info = key_info(out)
    assert f"0x{info.public_key.hex()}" in shown and "encrypted:  yes" in shown
    assert main(["key", "export-public", str(out)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported == {"suite": suite, "public_key": "0x" + info.public_key.hex(),
                        "address": "0x" + get_suite(suite).address(info.public_key).hex()}
    new = _passfile(tmp_path, "new", "another long passphrase")
    assert main(["key", "change-passphrase", str(out), "--passphrase-file", str(_passfile(tmp_path)),
                 "--new-passphrase-file", str(new)]) == 0
    key = load_key(out, lambda p: "another long passphrase")
    assert key.public_bytes == info.public_key
    assert main(["key", "change-passphrase", str(out), "--passphrase-file", str(_passfile(tmp_path)),
                 "--new-passphrase-file", str(new)]) != 0
    assert "wrong passphrase" in capsys.readouterr().err
    assert main(["key", "change-passphrase", str(out), "--passphrase-file", str(new), "--decrypt"]) == 0
    assert not key_info(out).encrypted and load_key(out).private_bytes == key.private_bytes


def test_import_hex_and_pem(tmp_path, capsys):
    suite = get_suite("std")
    key = suite.generate_keypair()
    hexfile = tmp_path / "raw.txt"
    hexfile.write_text("0x" + key.private_bytes.hex() + "\n")
    assert main(["key", "import", "--suite", "std", "--from", str(hexfile), "--out", str(tmp_path / "a.key")]) == 0
    assert load_key(tmp_path / "a.key").public_bytes == key.public_bytes
    pem = Ed25519PrivateKey.generate()
    pemfile = tmp_path / "k.pem"
    pemfile.write_bytes(pem.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert main(["key", "import", "--suite", "std", "--from", str(pemfile), "--out", str(tmp_path / "b.key"), "--encrypt",
                 "--passphrase-file", str(_passfile(tmp_path))]) == 0
    raw = pem.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    assert load_key(tmp_path / "b.key", lambda p: PASS).private_bytes == raw
    capsys.readouterr()
    assert main(["key", "import", "--suite", "sm", "--from", str(pemfile), "--out", str(tmp_path / "c.key")]) != 0
    assert "PEM import is for std" in capsys.readouterr().err
    hexfile.write_text("zz")
    assert main(["key", "import", "--suite", "std", "--from", str(hexfile), "--out", str(tmp_path / "d.key")]) != 0
    assert "expected 0x-hex" in capsys.readouterr().err
    assert main(["key", "import", "--suite", "std", "--from", str(hexfile), "--out", str(tmp_path / "a.key")]) != 0


def test_sealing_refuses_short_or_missing_passphrases(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open("/dev/null"))
    monkeypatch.delenv("CONSORTIA_NEW_KEY_PASSPHRASE", raising=False)
    assert main(["key", "new", "--suite", "std", "--out", str(tmp_path / "k"), "--encrypt",
                 "--passphrase-file", str(_passfile(tmp_path, text="short"))]) != 0
    assert "at least 8" in capsys.readouterr().err
    assert main(["key", "new", "--suite", "std", "--out", str(tmp_path / "k"), "--encrypt"]) != 0
    assert "give the new passphrase" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()
    monkeypatch.setenv("CONSORTIA_NEW_KEY_PASSPHRASE", PASS)
    assert main(["key", "new", "--suite", "std", "--out", str(tmp_path / "k"), "--encrypt"]) == 0
    assert load_key(tmp_path / "k", lambda p: PASS)
