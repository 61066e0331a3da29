"""Preparing a node on another host: node init, ca sign, node install-cert, and what each refuses."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.cli.main import main
from node.config import NodeConfig, load_key
from node.errors import ConfigError
from node.p2p.certs import NODE_URI_PREFIX, make_ca, node_pubkey_from_cert, write_ca
from node.p2p.enrol import check_node_cert, make_request, read_request, sign_request
from node.p2p.tlskey import decode


@pytest.fixture
def network(tmp_path, capsys):
    assert main(["net", "init", str(tmp_path / "net"), "--validators", "1", "--suite", "std"]) == 0
    capsys.readouterr()
    return tmp_path / "net"


def test_the_three_steps_make_a_home_whose_certificate_peers_accept(network, tmp_path, capsys):
    home = tmp_path / "bank-e"
    assert main(["node", "init", "--home", str(home), "--genesis", str(network / "genesis.json"), "--name", "bank-e",
                 "--host", "127.0.0.1", "--p2p-port", "27001", "--rpc-port", "27000"]) == 0
    out = capsys.readouterr().out
    key = load_key(home / "node.key")
    assert f"0x{key.public_bytes.hex()}" in out and "consortia ca sign" in out
    config = NodeConfig.load(home)
    assert config.role == "observer" and config.p2p.port == 27001 and config.rpc.port == 27000
    assert (home / "tls" / "node.key").stat().st_mode & 0o777 == 0o600
    assert read_request((home / "tls" / "node.csr").read_bytes()) == ("bank-e", key.public_bytes)
    assert json.loads((home / "genesis.json").read_text()) == json.loads((network / "genesis.json").read_text())

    cert = tmp_path / "bank-e.crt"
    assert main(["ca", "sign", "--ca", str(network / "ca"), "--csr", str(home / "tls" / "node.csr"), "--out", str(cert)]) == 0
    assert "bank-e" in capsys.readouterr().out
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(cert), "--ca-cert", str(network / "ca" / "ca.crt")]) == 0
    installed = x509.load_pem_x509_certificate((home / "tls" / "node.crt").read_bytes())
    assert node_pubkey_from_cert(installed.public_bytes(serialization.Encoding.DER)) == key.public_bytes
    installed.verify_directly_issued_by(x509.load_pem_x509_certificate((network / "ca" / "ca.crt").read_bytes()))
    assert not (home / "tls" / "node.csr").exists()


def test_install_refuses_a_foreign_ca_another_key_or_another_name(network, tmp_path, capsys):
    home = tmp_path / "bank-e"
    assert main(["node", "init", "--home", str(home), "--genesis", str(network / "genesis.json"), "--name", "bank-e"]) == 0
    other_ca = make_ca("elsewhere")
    write_ca(tmp_path / "other-ca", other_ca)
    csr = (home / "tls" / "node.csr").read_bytes()
    foreign = tmp_path / "foreign.crt"
    foreign.write_bytes(sign_request(other_ca, csr))
    capsys.readouterr()
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(foreign), "--ca-cert", str(network / "ca" / "ca.crt")]) == 1
    assert "not signed by this consortium CA" in capsys.readouterr().err
    # a certificate for someone else's request (another TLS key and chain key)
    _, stranger_csr = make_request("bank-e", b"\x01" * 32)
    stranger = tmp_path / "stranger.crt"
    assert main(["ca", "sign", "--ca", str(network / "ca"), "--csr", "/dev/null", "--out", str(stranger)]) == 1
    stranger_csr_file = tmp_path / "s.csr"
    stranger_csr_file.write_bytes(stranger_csr)
    assert main(["ca", "sign", "--ca", str(network / "ca"), "--csr", str(stranger_csr_file), "--out", str(stranger)]) == 0
    capsys.readouterr()
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(stranger), "--ca-cert", str(network / "ca" / "ca.crt")]) == 1
    assert "another TLS key" in capsys.readouterr().err
    assert not (home / "tls" / "node.crt").exists()


def _csr_with(san: list[x509.GeneralName] | None, cn: str | None = "n") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("csr, message", [
    (_csr_with(None), "no subjectAltName"),
    (_csr_with([x509.UniformResourceIdentifier(NODE_URI_PREFIX + "01" * 32), x509.DNSName("evil.example")]), "exactly one node identity"),
    (_csr_with([x509.UniformResourceIdentifier(NODE_URI_PREFIX + "01" * 32),
                x509.UniformResourceIdentifier(NODE_URI_PREFIX + "02" * 32)]), "exactly one node identity"),
    (_csr_with([x509.UniformResourceIdentifier(NODE_URI_PREFIX + "zz")]), "not hex"),
    (_csr_with([x509.UniformResourceIdentifier(NODE_URI_PREFIX + "01" * 32)], cn=None), "one common name"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "not a PEM certificate request"),
])
def test_the_ca_refuses_requests_that_name_anything_but_one_node(csr, message):
    with pytest.raises(ConfigError, match=message):
        sign_request(make_ca("c"), csr)


def test_check_node_cert_refuses_a_certificate_for_another_chain_key():
    ca = make_ca("c")
    tls_key, csr = make_request("n", b"\x01" * 32)
    cert = sign_request(ca, csr)
    assert check_node_cert(cert, ca.cert_pem, tls_key.public_key(), b"\x01" * 32) == "n"
    with pytest.raises(ConfigError, match="another node's chain key"):
        check_node_cert(cert, ca.cert_pem, tls_key.public_key(), b"\x02" * 32)


def test_node_init_refuses_a_non_empty_home_and_bad_ports(network, tmp_path, capsys):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "x").write_text("")
    args = ["node", "init", "--genesis", str(network / "genesis.json"), "--name", "n"]
    assert main([*args, "--home", str(tmp_path / "h")]) == 1
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--home", str(tmp_path / "g"), "--p2p-port", "70000"]) == 1
    assert "--p2p-port" in capsys.readouterr().err
    assert main(["ca", "sign", "--ca", str(tmp_path), "--csr", "x", "--out", "y"]) == 1
    assert "not found" in capsys.readouterr().err


def test_rotating_a_nodes_tls_certificate(network, tmp_path, capsys):
    home = network / "validator-0"
    old_cert, old_key = (home / "tls" / "node.crt").read_bytes(), (home / "tls" / "node.key").read_bytes()
    assert main(["node", "csr", "--home", str(home)]) == 0
    assert (home / "tls" / "node.key").read_bytes() == old_key  # still running on the old pair
    assert (home / "tls" / "node.key.next").stat().st_mode & 0o777 == 0o600
    cert = tmp_path / "new.crt"
    assert main(["ca", "sign", "--ca", str(network / "ca"), "--csr", str(home / "tls" / "node.csr"), "--out", str(cert)]) == 0
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(cert), "--ca-cert", str(network / "ca" / "ca.crt")]) == 0
    assert "restart the node" in capsys.readouterr().out
    assert (home / "tls" / "node.crt").read_bytes() != old_cert and (home / "tls" / "node.key").read_bytes() != old_key
    assert not (home / "tls" / "node.key.next").exists() and not (home / "tls" / "node.csr").exists()
    key = load_key(home / "node.key")
    check_node_cert((home / "tls" / "node.crt").read_bytes(), (home / "tls" / "ca.crt").read_bytes(),
                    decode((home / "tls" / "node.key").read_bytes(), None, home / "tls" / "node.key").public_key(), key.public_bytes)
    # a certificate for the old TLS key does not complete a rotation in progress
    assert main(["node", "csr", "--home", str(home)]) == 0
    stale = tmp_path / "stale.crt"
    stale.write_bytes((home / "tls" / "node.crt").read_bytes())
    capsys.readouterr()
    assert main(["node", "install-cert", "--home", str(home), "--cert", str(stale), "--ca-cert", str(network / "ca" / "ca.crt")]) == 1
    assert "another TLS key" in capsys.readouterr().err
