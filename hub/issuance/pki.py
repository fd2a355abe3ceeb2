"""The hub's small PKI for PDFs: a CA, a document-signing certificate and a time-stamping certificate.

Created on first run under ``KEY_DIR/issuance/`` (private keys 0600). The CA certificate is published in the
trust list; verifiers trust it, not the leaves. Leaves are renewed automatically when they come within 30 days
of expiry; old PDFs stay verifiable because each PDF embeds its own chain and a time stamp that proves the
signature existed while the leaf was valid. The TSA key is RSA because RFC 3161 clients (and pyHanko's token
builder) widely expect it; the document key is ECDSA P-256.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from hub.issuance.files import directory_lock, write_private

CA_YEARS = 20
LEAF_DAYS = 3 * 365
RENEW_BEFORE = timedelta(days=30)
# RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Credential:
    """A private key and its certificate, in both cryptography and asn1crypto (pyHanko) form."""

    key: PrivateKey
    cert: x509.Certificate

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert_der)

    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@dataclass(frozen=True)
class Pki:
    ca: Credential
    signer: Credential
    tsa: Credential


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gongyu"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_ca() -> Credential:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC) - timedelta(hours=1)
    name = _name("Gongyu Issuance CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Credential(key, cert)


def _make_leaf(ca: Credential, common_name: str, key: PrivateKey, usage: ObjectIdentifier) -> Credential:
    now = datetime.now(UTC) - timedelta(hours=1)
    ca_key = ca.key
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(now + timedelta(days=LEAF_DAYS), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # RFC 3161 §2.3: a TSA certificate carries only id-kp-timeStamping, marked critical.
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=usage == ExtendedKeyUsageOID.TIME_STAMPING)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Credential(key, cert)


def _store(directory: Path, stem: str, credential: Credential) -> None:
    write_private(directory / f"{stem}.key.pem", _pem_key(credential.key))
    write_private(directory / f"{stem}.cert.pem", credential.cert_pem)


def _load(directory: Path, stem: str) -> Credential | None:
    key_path, cert_path = directory / f"{stem}.key.pem", directory / f"{stem}.cert.pem"
    if not key_path.exists() or not cert_path.exists():
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{key_path} holds an unsupported key type")
    return Credential(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def _fresh(credential: Credential | None, ca: Credential) -> bool:
    return (
        credential is not None
        and credential.cert.issuer == ca.cert.subject
        and credential.cert.not_valid_after_utc - RENEW_BEFORE > datetime.now(UTC)
    )


def load_or_create_pki(directory: Path) -> Pki:
    ca, signer, tsa = _load(directory, "ca"), _load(directory, "signer"), _load(directory, "tsa")
    if ca is not None and _fresh(signer, ca) and _fresh(tsa, ca):
        assert signer is not None and tsa is not None
        return Pki(ca, signer, tsa)
    with directory_lock(directory):
        ca = _load(directory, "ca")
        if ca is None:
            ca = _make_ca()
            _store(directory, "ca", ca)
        signer = _load(directory, "signer")
        if not _fresh(signer, ca):
            signer = _make_leaf(
                ca, "Gongyu Document Signing", ec.generate_private_key(ec.SECP256R1()), DOCUMENT_SIGNING
            )
            _store(directory, "signer", signer)
        tsa = _load(directory, "tsa")
        if not _fresh(tsa, ca):
            tsa = _make_leaf(
                ca,
                "Gongyu Time Stamping Authority",
                rsa.generate_private_key(public_exponent=65537, key_size=3072),
                ExtendedKeyUsageOID.TIME_STAMPING,
            )
            _store(directory, "tsa", tsa)
        assert signer is not None and tsa is not None
        return Pki(ca, signer, tsa)
