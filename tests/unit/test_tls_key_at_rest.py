"""The node's TLS key encrypted at rest with the home's passphrase: every path that writes or reads it."""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from node.cli.main import main
from node.config import KEY_FILE
from node.errors import ConfigError
from node.keyfile import PASSPHRASE_ENV, key_info, load_key, replace_private_files, save_key
from node.logsetup import REDACTED, LogSettings, setup_logging
from node.p2p import tlskey
from node.p2p.tlskey import NEXT_KEY, decode, encode, is_encrypted, open_tls_key, tls_key_path, write_tls_key
from node.p2p.transport import tls_contexts
from node.preflight import check_home

PASS = "the home's passphrase"
OTHER = "another passphrase entirely"


def _plenty(path):
    return shutil.disk_usage("/")._replace(free=10**12)


def _passfile(tmp_path, text=PASS, name="pass"):
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _fixed(text):
    return lambda _path: text


@pytest.fixture(autouse=True)
def no_ambient_passphrase(monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    tlskey._UNLOCKED.clear()  # each test opens its homes afresh
    yield
    tlskey._UNLOCKED.clear()


@pytest.fixture
def net(tmp_path, capsys):
    from node.devnet import free_port_block

    assert main(["net", "init", str(tmp_path / "net"), "--validators", "1", "--suite", "std",
                 "--base-port", str(free_port_block(1))]) == 0
    capsys.readouterr()
    return tmp_path / "net"


def _encrypt_home(home, passphrase=PASS, tls_passphrase=None):
    """Seal node.key with ``passphrase`` and tls/node.key with ``tls_passphrase`` (default: the same)."""
    save_key(home / KEY_FILE, load_key(home / KEY_FILE), passphrase)
    key = decode(tls_key_path(home).read_bytes(), None, tls_key_path(home))
    write_tls_key(tls_key_path(home), key, tls_passphrase or passphrase)
    return key


# --- the format -----------------------------------------------------------------------------------

def test_the_encrypted_pem_is_standard_pkcs8_that_openssl_and_ssl_read(net, tmp_path):
    home = net / "validator-0"
    key = _encrypt_home(home)
    pem = tls_key_path(home).read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n") and is_encrypted(pem)
    assert (tls_key_path(home).stat().st_mode & 0o777) == 0o600
    assert decode(pem, PASS, tls_key_path(home)).private_numbers() == key.private_numbers()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(home / "tls" / "node.crt", tls_key_path(home), password=PASS)  # OpenSSL itself decrypts it
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(home / "tls" / "node.crt", tls_key_path(home), password="not it at all")
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "asn1parse", "-in", str(tls_key_path(home))], capture_output=True, text=True, check=True).stdout
        assert ":PBES2" in out and ":scrypt" in out and ":aes-256-cbc" in out and "INTEGER           :4000" in out


def test_wrong_or_missing_passphrase_is_one_config_error(tmp_path):
    path = tmp_path / "node.key"
    write_tls_key(path, ec.generate_private_key(ec.SECP256R1()), PASS)
    with pytest.raises(ConfigError, match=r"wrong passphrase \(it is sealed with the passphrase of the home's node.key"):
        decode(path.read_bytes(), OTHER, path)
    with pytest.raises(ConfigError, match="is encrypted and no passphrase was given"):
        decode(path.read_bytes(), None, path)
    with pytest.raises(ConfigError, match="is encrypted: give its passphrase with --passphrase-file"):
        open_tls_key(path, tmp_path)  # no environment, no terminal
    path.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="is not a PKCS#8 PEM private key"):
        decode(path.read_bytes(), None, path)


def test_plaintext_keys_stay_plaintext_and_other_pkcs8_encryptions_are_read(tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    assert encode(key, None).startswith(b"-----BEGIN PRIVATE KEY-----")
    theirs = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(PASS.encode()))
    assert decode(theirs, PASS, tmp_path / "k").private_numbers() == key.private_numbers()


# --- the node's peer layer and start -------------------------------------------------------------

def test_tls_contexts_open_an_encrypted_key_with_the_passphrase_given_or_remembered(net, monkeypatch):
    home = net / "validator-0"
    _encrypt_home(home)
    with pytest.raises(ConfigError, match="is encrypted: give its passphrase"):
        tls_contexts(home)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        tls_contexts(home, _fixed(OTHER))
    server, client = tls_contexts(home, _fixed(PASS))
    assert isinstance(server, ssl.SSLContext) and isinstance(client, ssl.SSLContext)
    tls_contexts(home)  # opened once in this process (as open_node does at start): not asked again
    key = decode(tls_key_path(home).read_bytes(), PASS, tls_key_path(home))
    write_tls_key(tls_key_path(home), key, OTHER)  # re-sealed behind the process's back: OpenSSL's refusal is one line too
    with pytest.raises(ConfigError, match=r"tls/node.crt with .*tls/node.key cannot be loaded"):
        tls_contexts(home)
    monkeypatch.setenv(PASSPHRASE_ENV, OTHER)
    tlskey._UNLOCKED.clear()
    tls_contexts(home)  # $CONSORTIA_KEY_PASSPHRASE, like the node key


def test_open_node_opens_the_tls_key_with_the_node_keys_passphrase_and_asks_once(net):
    from node.app import open_node
    from node.preflight import remembered

    home = net / "validator-0"
    _encrypt_home(home)
    asked = []

    def source(path):
        asked.append(path)
        return PASS

    parts = open_node(home, remembered(source))
    try:
        assert asked == [home / KEY_FILE]  # one passphrase per home, asked for the node key once
        tls_contexts(home)  # the peer layer's load needs no passphrase of its own
    finally:
        parts.store.close()


# --- preflight (node check and node run) ---------------------------------------------------------

def test_preflight_checks_the_tls_key_with_the_homes_passphrase(net):
    home = net / "validator-0"
    _encrypt_home(home)
    good = check_home(home, _fixed(PASS), disk=_plenty)
    assert good.errors == [] and good.warnings == []
    assert any("TLS key file" in line and "encrypted, passphrase correct" in line for line in good.ok)
    assert any("for this node's keys" in line for line in good.ok)

    wrong = check_home(home, _fixed(OTHER), starting=True, disk=_plenty)
    assert len(wrong.errors) == 1 and "node.key" in wrong.errors[0] and "wrong passphrase" in wrong.errors[0]

    unchecked = check_home(home, None, disk=_plenty)
    assert unchecked.errors == []
    assert any("tls/node.key is encrypted: its passphrase was not checked" in w for w in unchecked.warnings)
    assert any("TLS key not opened" in line for line in unchecked.ok)


def test_preflight_names_a_tls_key_sealed_with_another_passphrase_and_a_plaintext_one_in_an_encrypted_home(net):
    home = net / "validator-0"
    key = _encrypt_home(home, PASS, tls_passphrase=OTHER)
    found = check_home(home, _fixed(PASS), starting=True, disk=_plenty)
    assert found.errors == [f"TLS key file {tls_key_path(home)}: wrong passphrase (it is sealed with the passphrase "
                            "of the home's node.key: one passphrase per node home)"]
    write_tls_key(tls_key_path(home), key, None)
    found = check_home(home, _fixed(PASS), disk=_plenty)
    assert found.errors == []
    assert any("is plaintext while" in w and f"consortia key encrypt-tls --home {home}" in w for w in found.warnings)


def test_node_run_with_an_encrypted_tls_key_and_no_passphrase_is_one_line(net, capsys):
    home = net / "validator-0"
    key = decode(tls_key_path(home).read_bytes(), None, tls_key_path(home))
    write_tls_key(tls_key_path(home), key, PASS)  # node.key stays plaintext: the TLS key alone asks
    assert main(["node", "run", "--home", str(home)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: key file {tls_key_path(home)} is encrypted: give its passphrase with --passphrase-file, "
                   f"${PASSPHRASE_ENV} or on a terminal"]


# --- key change-passphrase and key encrypt-tls ---------------------------------------------------

def test_change_passphrase_seals_re_seals_and_unseals_the_homes_tls_keys_with_the_node_key(net, tmp_path, capsys):
    home = net / "validator-0"
    node_key = load_key(home / KEY_FILE)
    tls_key = decode(tls_key_path(home).read_bytes(), None, tls_key_path(home))
    assert main(["node", "csr", "--home", str(home)]) == 0  # a rotation in progress: node.key.next too
    next_key = decode((home / "tls" / NEXT_KEY).read_bytes(), None, home / "tls" / NEXT_KEY)
    capsys.readouterr()

    assert main(["key", "change-passphrase", str(home / KEY_FILE), "--new-passphrase-file", str(_passfile(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "tls/node.key: re-encrypted with it" in out and "node.key.next: re-encrypted with it" in out
    assert key_info(home / KEY_FILE).encrypted
    for path, key in ((tls_key_path(home), tls_key), (home / "tls" / NEXT_KEY, next_key)):
        assert is_encrypted(path.read_bytes()) and decode(path.read_bytes(), PASS, path).private_numbers() == key.private_numbers()

    new = _passfile(tmp_path, OTHER, "new")
    assert main(["key", "change-passphrase", str(home / KEY_FILE), "--passphrase-file", str(_passfile(tmp_path)),
                 "--new-passphrase-file", str(new)]) == 0
    assert load_key(home / KEY_FILE, _fixed(OTHER)).private_bytes == node_key.private_bytes
    assert decode(tls_key_path(home).read_bytes(), OTHER, tls_key_path(home)).private_numbers() == tls_key.private_numbers()

    assert main(["key", "change-passphrase", str(home / KEY_FILE), "--passphrase-file", str(new), "--decrypt"]) == 0
    assert "readable by anyone" in capsys.readouterr().err
    assert not key_info(home / KEY_FILE).encrypted and not is_encrypted(tls_key_path(home).read_bytes())
    assert not list(home.glob("*.tmp")) and not list((home / "tls").glob("*.tmp"))


def test_change_passphrase_writes_neither_file_when_the_tls_key_does_not_open(net, tmp_path, capsys):
    home = net / "validator-0"
    _encrypt_home(home, PASS, tls_passphrase=OTHER)  # a TLS key sealed by hand with something else
    before = {p: p.read_bytes() for p in (home / KEY_FILE, tls_key_path(home))}
    assert main(["key", "change-passphrase", str(home / KEY_FILE), "--passphrase-file", str(_passfile(tmp_path)),
                 "--new-passphrase-file", str(_passfile(tmp_path, "a third passphrase", "new"))]) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


def test_replace_private_files_puts_back_what_it_replaced_when_a_rename_fails(tmp_path, monkeypatch):
    first, second = tmp_path / "a.key", tmp_path / "b.key"
    first.write_text("old a")
    second.write_text("old b")
    real_replace = os.replace
    calls = []

    def failing_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_second)
    with pytest.raises(OSError):
        replace_private_files({first: "new a", second: "new b"})
    assert (first.read_text(), second.read_text()) == ("old a", "old b")
    assert (first.stat().st_mode & 0o777) == 0o600 and not list(tmp_path.glob("*.tmp"))


def test_encrypt_tls_seals_an_existing_homes_plaintext_tls_key(net, tmp_path, capsys):
    home = net / "validator-0"
    assert main(["key", "encrypt-tls", "--home", str(home)]) == 1
    assert "is plaintext: encrypt the whole home with 'consortia key change-passphrase" in capsys.readouterr().err
    save_key(home / KEY_FILE, load_key(home / KEY_FILE), PASS)  # a home encrypted before the TLS key could be
    tls_key = decode(tls_key_path(home).read_bytes(), None, tls_key_path(home))
    assert main(["key", "encrypt-tls", "--home", str(home), "--passphrase-file", str(_passfile(tmp_path, OTHER))]) == 1
    assert "wrong passphrase" in capsys.readouterr().err and not is_encrypted(tls_key_path(home).read_bytes())
    assert main(["key", "encrypt-tls", "--home", str(home), "--passphrase-file", str(_passfile(tmp_path))]) == 0
    assert "encrypted with the passphrase of" in capsys.readouterr().out
    assert decode(tls_key_path(home).read_bytes(), PASS, tls_key_path(home)).private_numbers() == tls_key.private_numbers()
    assert main(["key", "encrypt-tls", "--home", str(home), "--passphrase-file", str(_passfile(tmp_path))]) == 0
    assert "already encrypted" in capsys.readouterr().out
    assert check_home(home, _fixed(PASS), disk=_plenty).errors == []


# --- node init, csr, install-cert ------------------------------------------------------------------

def test_node_init_encrypt_seals_both_keys_and_install_cert_needs_the_passphrase(net, tmp_path, capsys):
    home = tmp_path / "bank-e"
    passfile = _passfile(tmp_path)
    assert main(["node", "init", "--home", str(home), "--genesis", str(net / "genesis.json"), "--name", "bank-e",
                 "--encrypt", "--passphrase-file", str(passfile)]) == 0
    assert key_info(home / KEY_FILE).encrypted and is_encrypted(tls_key_path(home).read_bytes())
    cert = tmp_path / "bank-e.crt"
    assert main(["ca", "sign", "--ca", str(net / "ca"), "--csr", str(home / "tls" / "node.csr"), "--out", str(cert)]) == 0
    capsys.readouterr()
    install = ["node", "install-cert", "--home", str(home), "--cert", str(cert), "--ca-cert", str(net / "ca" / "ca.crt")]
    assert main([*install, "--passphrase-file", str(_passfile(tmp_path, OTHER, "wrong"))]) == 1
    assert "wrong passphrase" in capsys.readouterr().err and not (home / "tls" / "node.crt").exists()
    assert main([*install, "--passphrase-file", str(passfile)]) == 0
    found = check_home(home, _fixed(PASS), disk=_plenty)
    assert any("for this node's keys" in line for line in found.ok), (found.errors, found.ok)


def test_rotating_the_certificate_of_an_encrypted_home_keeps_the_tls_key_sealed(net, tmp_path, capsys):
    home = net / "validator-0"
    old_tls = _encrypt_home(home)
    passfile = _passfile(tmp_path)
    assert main(["node", "csr", "--home", str(home), "--passphrase-file", str(passfile)]) == 0
    assert "sealed with node.key's passphrase" in capsys.readouterr().out
    pending = home / "tls" / NEXT_KEY
    assert is_encrypted(pending.read_bytes()) and (pending.stat().st_mode & 0o777) == 0o600
    cert = tmp_path / "new.crt"
    assert main(["ca", "sign", "--ca", str(net / "ca"), "--csr", str(home / "tls" / "node.csr"), "--out", str(cert)]) == 0
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(cert), "--ca-cert", str(net / "ca" / "ca.crt"),
                 "--passphrase-file", str(passfile)]) == 0
    new_tls = decode(tls_key_path(home).read_bytes(), PASS, tls_key_path(home))
    assert new_tls.private_numbers() != old_tls.private_numbers() and not pending.exists()
    assert check_home(home, _fixed(PASS), disk=_plenty).errors == []
    tls_contexts(home, _fixed(PASS))


# --- logs ------------------------------------------------------------------------------------------

def test_the_log_scrubber_knows_the_tls_key_and_its_passphrase(net, tmp_path):
    from cryptography.hazmat.primitives import serialization

    home = net / "validator-0"
    _encrypt_home(home, "tls passphrase for the scrubber")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        opened = open_tls_key(tls_key_path(home), home, _fixed("tls passphrase for the scrubber"))
        pem = opened.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()
        scalar = f"{opened.key.private_numbers().private_value:064x}"
        setup_logging(LogSettings(file=tmp_path / "node.log"))
        log = logging.getLogger("consortia.test")
        log.info("event=oops passphrase=%r scalar=%s", "tls passphrase for the scrubber", scalar)
        log.info("event=oops pem=%r", pem)
        text = (tmp_path / "node.log").read_text()
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:], root.level = handlers, level
    assert "tls passphrase for the scrubber" not in text and scalar not in text.lower()
    body = [line for line in pem.splitlines() if not line.startswith("-----")]
    assert not any(line in text for line in body) and text.count(REDACTED) >= 2 + len(body)
