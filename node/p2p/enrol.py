"""Enrolling a node prepared on another host: a certificate request, its signature by the CA, and its check.

An organisation joining the consortium must not need another member's files, and the CA holder
must not need the new node's private keys. So the new host makes its own keys and a certificate
signing request (CSR) naming its chain public key; the CA holder signs the request after checking
it names exactly one node identity; the new host installs the certificate after checking it chains
to the consortium CA and belongs to its own keys. The certificate is shaped exactly like the ones
``net init`` issues (see ``node.p2p.certs``).
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.errors import ConfigError
from node.p2p.certs import NODE_URI_PREFIX, CertAuthority, node_certificate


def make_request(node_name: str, chain_pubkey: bytes) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """(TLS key, CSR PEM) for a node: a fresh P-256 key, the name as CN, the chain key in the SAN.
    The caller stores the key (``node.p2p.tlskey.write_tls_key``, sealed if the home is encrypted)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consortia"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, node_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(NODE_URI_PREFIX + chain_pubkey.hex())]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM)


def _identity(extensions: x509.Extensions, what: str) -> bytes:
    """The one chain public key a SAN names (a request or certificate naming none or several is refused)."""
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ConfigError(f"{what} names no node identity (no subjectAltName)") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(NODE_URI_PREFIX)]
    if len(uris) != 1 or len(san) != 1:
        raise ConfigError(f"{what} must name exactly one node identity ({NODE_URI_PREFIX}<public key hex>) and nothing else")
    try:
        return bytes.fromhex(uris[0][len(NODE_URI_PREFIX):])
    except ValueError:
        raise ConfigError(f"{what}: the node identity is not hex") from None


def read_request(csr_pem: bytes) -> tuple[str, bytes]:
    """(node name, chain public key) of a CSR whose self-signature verifies."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate request ({exc})") from None
    if not csr.is_signature_valid:
        raise ConfigError("the certificate request's signature does not verify")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise ConfigError("the certificate request's key must be ECDSA P-256 (what node TLS uses)")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not str(names[0].value).strip():
        raise ConfigError("the certificate request must carry one common name (the node's name)")
    return str(names[0].value), _identity(csr.extensions, "the certificate request")


def sign_request(ca: CertAuthority, csr_pem: bytes) -> bytes:
    """A node certificate (PEM) for a checked request, of the same shape ``net init`` issues."""
    name, chain_pubkey = read_request(csr_pem)
    public = x509.load_pem_x509_csr(csr_pem).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)  # read_request checked it is P-256
    return node_certificate(ca, name, chain_pubkey, public)


def check_node_cert(cert_pem: bytes, ca_cert_pem: bytes, tls_public_key: ec.EllipticCurvePublicKey | None, chain_pubkey: bytes) -> str:
    """The certificate's node name, after checking it is the CA's, for this TLS key (unless
    ``tls_public_key`` is None: an encrypted key not opened) and this chain key."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    except ValueError as exc:
        raise ConfigError(f"certificate or CA certificate is not valid PEM ({exc})") from None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ConfigError("the certificate is not signed by this consortium CA") from None
    if tls_public_key is not None and cert.public_key() != tls_public_key:
        raise ConfigError("the certificate is for another TLS key than this node's tls/node.key")
    named = _identity(cert.extensions, "the certificate")
    if named != chain_pubkey:
        raise ConfigError("the certificate names another node's chain key than this node's node.key")
    now = datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ConfigError("the certificate is not valid now (check its dates and this host's clock)")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""
