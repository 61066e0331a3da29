"""The consortium CA and node TLS certificates made at ``net init``.

TLS uses its own ECDSA P-256 keys (Python's ``ssl`` cannot do SM2 TLS); a node certificate binds
its TLS key to the node's chain identity by carrying the node's chain public key in a
``consortia:node:<hex>`` URI in its subjectAltName, signed by the consortium CA. A peer is accepted
only if its certificate chains to the CA *and* that public key is in the on-chain node list.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.errors import ConfigError
from node.keyfile import write_private
from node.p2p.tlskey import NODE_KEY, TLS_DIR, encode, write_tls_key

NODE_URI_PREFIX = "consortia:node:"
CA_CERT = "ca.crt"
NODE_CERT = "node.crt"
CA_KEY = "ca.key"
VALIDITY_DAYS = 3650


@dataclass(frozen=True)
class CertAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(name: str) -> CertAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortia"), x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertAuthority(key=key, cert=cert)


def node_certificate(ca: CertAuthority, node_name: str, chain_pubkey: bytes, tls_public_key: ec.EllipticCurvePublicKey) -> bytes:
    """A node certificate (PEM) for ``tls_public_key``, usable as both TLS server and client, naming
    the node's chain key in its subjectAltName; the one shape every issuing path uses."""
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortia"), x509.NameAttribute(NameOID.COMMON_NAME, node_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(tls_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(NODE_URI_PREFIX + chain_pubkey.hex())]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def issue_node_cert(ca: CertAuthority, node_name: str, chain_pubkey: bytes, passphrase: str | None = None) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) for one node: a fresh P-256 TLS key (sealed when ``passphrase``
    is given) and its certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    return encode(key, passphrase), node_certificate(ca, node_name, chain_pubkey, key.public_key())


def write_node_tls(home: Path, ca: CertAuthority, node_name: str, chain_pubkey: bytes, passphrase: str | None = None) -> None:
    """``tls/ca.crt``, ``tls/node.crt`` and ``tls/node.key`` of a node home; the key sealed with the
    home's passphrase when ``passphrase`` is given (the node key's: one passphrase per home)."""
    tls = home / TLS_DIR
    tls.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    (tls / CA_CERT).write_bytes(ca.cert_pem)
    (tls / NODE_CERT).write_bytes(node_certificate(ca, node_name, chain_pubkey, key.public_key()))
    write_tls_key(tls / NODE_KEY, key, passphrase)


def write_ca(directory: Path, ca: CertAuthority) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CA_CERT).write_bytes(ca.cert_pem)
    write_private(directory / CA_KEY, _pem_key(ca.key).decode())


def node_pubkey_from_cert(der: bytes) -> bytes:
    """The chain public key a peer certificate vouches for; ConfigError if it names none."""
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        raise ConfigError("peer certificate has no node identity") from None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(NODE_URI_PREFIX):
            try:
                return bytes.fromhex(uri[len(NODE_URI_PREFIX):])
            except ValueError:
                break
    raise ConfigError("peer certificate has no valid node identity")


def load_ca(directory: Path) -> CertAuthority:
    """The consortium CA written by ``write_ca`` (``net init``), to issue a later node's certificate."""
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc.filename} not found: the consortium CA key is needed to issue a node certificate") from None
    except ValueError as exc:
        raise ConfigError(f"the consortium CA in {directory} is unreadable: {exc}") from None
    ca_public = cert.public_key()
    if (not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(ca_public, ec.EllipticCurvePublicKey)
            or key.public_key().public_numbers() != ca_public.public_numbers()):
        raise ConfigError(f"{directory / 'ca.key'} is not the key of {directory / CA_CERT}")
    return CertAuthority(key=key, cert=cert)
