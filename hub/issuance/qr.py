"""The QR payload: CBOR claims → COSE_Sign1 (ES256, ``kid`` protected) → zlib → Base45 → ``GY1:``.

The pipeline is the EU Digital COVID Certificate's (``HC1:``), so its tooling and habits carry over. COSE
structures come from pycose and Base45 from ``base45``; only the ECDSA primitive is OpenSSL's (through
``cryptography``) because pycose's pure-Python ``ecdsa`` backend verifies at a few hundred per second. A test
checks that pycose's own ``verify_signature`` accepts our signatures.

Claims are a CWT claims set (RFC 8392): ``iss`` (1), ``exp`` (4), ``iat`` (6), and the document under the
private-use key -65537: ``{"v": 1, "no", "doc", "view", "holder", "fields", "pdf"}``. ``fields`` is the view's
fields as released by the audited lookup (absent when they would not fit in a QR code); ``pdf`` is the SHA-256
of the signed PDF and is present only in the payload handed to the requester, not in the QR printed inside
that same PDF (a file cannot contain its own hash).

This module is pure: no I/O, no clock (callers pass ``now``).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import base45
import cbor2
import segno
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from pycose.algorithms import Es256
from pycose.headers import KID, Algorithm
from pycose.messages.sign1message import Sign1Message

from hub.issuance.keys import DocumentKey, b64url, b64url_decode

PREFIX = "GY1:"
CLAIMS_VERSION = 1
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_DOCUMENT = 1, 4, 6, -65537
COSE_SIGN1_TAG = 18
MAX_PAYLOAD_CHARS = 2420  # QR version 40 at error level Q holds 2,420 alphanumeric characters
MAX_COSE_BYTES = 64 * 1024  # zlib bomb guard
CLOCK_SKEW = timedelta(minutes=5)
ROTATION_GRACE = timedelta(minutes=5)  # a process may sign with the old key until it notices a rotation

QrStatus = Literal["valid", "expired", "invalid"]


class QrError(ValueError):
    """The payload is not a genuine Gongyu QR; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DocumentClaims:
    issuer: str
    issued_at: int
    expires_at: int
    number: str
    document_type: str
    view: str
    holder: str
    fields: dict[str, Any] | None = None
    pdf_sha256: bytes | None = None

    def to_cbor(self) -> dict[int, Any]:
        document: dict[str, Any] = {
            "v": CLAIMS_VERSION,
            "no": self.number,
            "doc": self.document_type,
            "view": self.view,
            "holder": self.holder,
        }
        if self.fields is not None:
            document["fields"] = self.fields
        if self.pdf_sha256 is not None:
            document["pdf"] = self.pdf_sha256
        return {
            CLAIM_ISS: self.issuer,
            CLAIM_EXP: self.expires_at,
            CLAIM_IAT: self.issued_at,
            CLAIM_DOCUMENT: document,
        }

    @classmethod
    def from_cbor(cls, data: Any) -> DocumentClaims:
        try:
            document = data[CLAIM_DOCUMENT]
            claims = cls(
                issuer=data[CLAIM_ISS],
                issued_at=data[CLAIM_IAT],
                expires_at=data[CLAIM_EXP],
                number=document["no"],
                document_type=document["doc"],
                view=document["view"],
                holder=document["holder"],
                fields=_thaw(document["fields"]) if "fields" in document else None,
                pdf_sha256=document.get("pdf"),
            )
            version = document["v"]
        except (KeyError, TypeError, IndexError):
            raise QrError("bad_claims") from None
        text = (claims.issuer, claims.number, claims.document_type, claims.view, claims.holder)
        if (
            version != CLAIMS_VERSION
            or not all(isinstance(v, str) for v in text)
            or not all(type(v) is int for v in (claims.issued_at, claims.expires_at))
            or not (claims.fields is None or isinstance(claims.fields, dict))
            or not (claims.pdf_sha256 is None or _is_digest(claims.pdf_sha256))
        ):
            raise QrError("bad_claims")
        return claims

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly view (test vectors, API answers)."""
        return {
            "iss": self.issuer,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "issuance_number": self.number,
            "document_type": self.document_type,
            "view": self.view,
            "holder": self.holder,
            "fields": self.fields,
            "pdf_sha256": self.pdf_sha256.hex() if self.pdf_sha256 is not None else None,
        }


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def _thaw(value: Any) -> Any:
    """cbor2 hands back immutable containers in some contexts; the claims are plain JSON-like data."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


# --- signing ---


class _Sign1(Sign1Message):
    """pycose's COSE_Sign1 with the ES256 primitive from OpenSSL."""

    signer: ec.EllipticCurvePrivateKey | None = None

    def compute_signature(self, detached_payload: bytes | None = None, *args: Any, **kwargs: Any) -> bytes:
        assert self.signer is not None
        der = self.signer.sign(self._create_sig_structure(detached_payload), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 9053 §2.1: r ‖ s, not DER


def sign_cose(claims: DocumentClaims, key: DocumentKey) -> bytes:
    message = _Sign1(phdr={Algorithm: Es256, KID: key.kid}, payload=cbor2.dumps(claims.to_cbor()))
    message.signer = key.private_key
    encoded: bytes = message.encode(tag=True)
    return encoded


def wrap(cose: bytes) -> str:
    """zlib → Base45 → prefix."""
    encoded: bytes = base45.b45encode(zlib.compress(cose, 9))
    return PREFIX + encoded.decode("ascii")


def encode(claims: DocumentClaims, key: DocumentKey) -> str:
    return wrap(sign_cose(claims, key))


def fits(payload: str) -> bool:
    return len(payload) <= MAX_PAYLOAD_CHARS


# --- decoding and verification ---


@dataclass(frozen=True)
class TrustedKey:
    kid: bytes
    public_key: ec.EllipticCurvePublicKey
    nbf: datetime
    exp: datetime | None

    def valid_at(self, moment: datetime) -> bool:
        if moment < self.nbf - CLOCK_SKEW:
            return False
        return self.exp is None or moment <= self.exp + ROTATION_GRACE


class TrustList:
    """The document keys a verifier accepts, by ``kid`` (from the published JWKS or the hub's own ring)."""

    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self._keys = {k.kid: k for k in keys}

    def get(self, kid: bytes) -> TrustedKey | None:
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def from_document_keys(cls, keys: Iterable[DocumentKey]) -> TrustList:
        return cls(TrustedKey(k.kid, k.public_key, k.nbf, k.exp) for k in keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> TrustList:
        """Every ES256 P-256 key marked ``gongyu_purpose: document`` in a JWKS document."""
        trusted = []
        for entry in jwks.get("keys", []):
            if not (
                isinstance(entry, Mapping)
                and entry.get("gongyu_purpose") == "document"
                and entry.get("kty") == "EC"
                and entry.get("crv") == "P-256"
                and entry.get("alg", "ES256") == "ES256"
            ):
                continue
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(b64url_decode(entry["x"]), "big"),
                int.from_bytes(b64url_decode(entry["y"]), "big"),
                ec.SECP256R1(),
            )
            exp = entry.get("exp")
            trusted.append(
                TrustedKey(
                    b64url_decode(entry["kid"]),
                    numbers.public_key(),
                    datetime.fromtimestamp(int(entry.get("nbf", 0)), UTC),
                    datetime.fromtimestamp(int(exp), UTC) if exp is not None else None,
                )
            )
        return cls(trusted)


@dataclass(frozen=True)
class Decoded:
    kid: bytes
    algorithm: Any
    message: Sign1Message
    claims: DocumentClaims


def unwrap(payload: str) -> bytes:
    """Prefix → Base45 → zlib; the COSE bytes, or ``QrError`` naming the failed stage."""
    payload = payload.strip()
    if not payload.startswith(PREFIX):
        raise QrError("wrong_prefix")
    if len(payload) > 4 * MAX_PAYLOAD_CHARS:
        raise QrError("too_large")
    try:
        compressed = base45.b45decode(payload[len(PREFIX) :])
    except (ValueError, KeyError, IndexError):
        raise QrError("bad_base45") from None
    inflater = zlib.decompressobj()
    try:
        cose = inflater.decompress(compressed, MAX_COSE_BYTES)
    except zlib.error:
        raise QrError("bad_zlib") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise QrError("bad_zlib")
    return cose


def decode(payload: str) -> Decoded:
    """Unwrap and parse without checking the signature."""
    cose = unwrap(payload)
    try:
        tagged = cbor2.loads(cose)
        if not isinstance(tagged, cbor2.CBORTag) or tagged.tag != COSE_SIGN1_TAG:
            raise QrError("bad_cose")
        parts = list(tagged.value)
        if len(parts) != 4 or not isinstance(parts[0], bytes) or not isinstance(parts[3], bytes):
            raise QrError("bad_cose")
        parts[1] = dict(parts[1])
        message = Sign1Message.from_cose_obj(parts, True)
        algorithm = message.phdr.get(Algorithm)
        kid = message.phdr.get(KID)
        if not isinstance(message.payload, bytes):
            raise QrError("bad_cose")
        content = cbor2.loads(message.payload)
    except QrError:
        raise
    except Exception:  # malformed CBOR/COSE in any of many ways: one answer
        raise QrError("bad_cose") from None
    if not isinstance(kid, bytes):
        raise QrError("missing_kid")
    return Decoded(kid, algorithm, message, DocumentClaims.from_cbor(content))


def check_signature(decoded: Decoded, public_key: ec.EllipticCurvePublicKey) -> bool:
    signature = decoded.message.signature
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, decoded.message._create_sig_structure(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class QrVerification:
    status: QrStatus
    reason: str
    claims: DocumentClaims | None = None
    kid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def verify(payload: str, trust: TrustList, now: datetime) -> QrVerification:
    """Offline verification: genuine (``valid``/``expired``) or ``invalid`` with the failed check as reason.

    An expired payload was genuinely issued, but the hub no longer vouches for its content (the document's
    retention window has passed); callers must not present its fields as current.
    """
    try:
        decoded = decode(payload)
    except QrError as exc:
        return QrVerification("invalid", exc.reason)
    kid = b64url(decoded.kid)
    if decoded.algorithm is not Es256:
        return QrVerification("invalid", "unsupported_algorithm", kid=kid)
    trusted = trust.get(decoded.kid)
    if trusted is None:
        return QrVerification("invalid", "unknown_key", kid=kid)
    if not check_signature(decoded, trusted.public_key):
        return QrVerification("invalid", "bad_signature", kid=kid)
    claims = decoded.claims
    issued = datetime.fromtimestamp(claims.issued_at, UTC)
    if issued > now + CLOCK_SKEW:
        return QrVerification("invalid", "not_yet_valid", claims, kid)
    if not trusted.valid_at(issued):
        return QrVerification("invalid", "key_not_valid_at_issue", claims, kid)
    if now > datetime.fromtimestamp(claims.expires_at, UTC):
        return QrVerification("expired", "retention_elapsed", claims, kid)
    return QrVerification("valid", "signature_valid", claims, kid)


# --- rendering ---


# The payload is compressed and signed, so its bits are close to random and every mask pattern scores about
# the same under ISO/IEC 18004's penalty rules; scoring all eight costs ~40 ms in pure Python per document,
# more than rendering and signing the PDF together. We use one fixed mask; the tests decode every code with
# ZXing.
QR_MASK = 0


def make_qr(payload: str) -> segno.QRCode:
    """Error-correction level Q exactly (no boost), alphanumeric mode (Base45 is QR's alphanumeric set)."""
    return segno.make_qr(payload, error="q", boost_error=False, mode="alphanumeric", mask=QR_MASK)


def render_png(payload: str, scale: int = 4) -> bytes:
    buffer = io.BytesIO()
    make_qr(payload).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
