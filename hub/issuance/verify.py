"""Offline verification from the published trust list: QR payloads and signed PDFs.

The trust list is the hub's JWKS (``/.well-known/gongyu/keys``): document keys (``gongyu_purpose:
document``) verify QR payloads; the issuance CA (``gongyu_purpose: document-ca``, certificate in ``x5c``)
anchors the PDF signer and the time-stamping authority. A verifier needs nothing else, and no network.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from asn1crypto import x509 as asn1_x509

from hub.issuance.qr import QrVerification, TrustList, verify
from hub.issuance.signing import QR_KEY

PdfStatus = Literal["valid", "expired", "invalid"]


@dataclass(frozen=True)
class TrustAnchors:
    documents: TrustList
    ca_certs: tuple[bytes, ...]  # DER

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> TrustAnchors:
        cas = tuple(
            base64.b64decode(entry["x5c"][0])
            for entry in jwks.get("keys", [])
            if isinstance(entry, Mapping)
            and entry.get("gongyu_purpose") == "document-ca"
            and entry.get("x5c")
        )
        return cls(TrustList.from_jwks(jwks), cas)


@dataclass(frozen=True)
class PdfVerification:
    status: PdfStatus
    reason: str
    sha256: str
    signer: str | None = None
    timestamp: datetime | None = None
    qr: QrVerification | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "sha256": self.sha256,
            "signer": self.signer,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "qr": None
            if self.qr is None
            else {
                "status": self.qr.status,
                "reason": self.qr.reason,
                "claims": self.qr.claims.as_json() if self.qr.claims else None,
            },
        }


def verify_pdf(data: bytes, anchors: TrustAnchors, now: datetime) -> PdfVerification:
    """PAdES signature intact, valid, covering the whole file, chained to the CA, with a valid time stamp."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    sha256 = hashlib.sha256(data).hexdigest()
    if not anchors.ca_certs:
        return PdfVerification("invalid", "no_trust_anchor", sha256)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # any parse failure of an untrusted file is one answer
        return PdfVerification("invalid", "unreadable", sha256)
    if len(signatures) != 1:
        return PdfVerification("invalid", "signature_count", sha256)
    roots = [asn1_x509.Certificate.load(der) for der in anchors.ca_certs]
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(
            signatures[0], signer_validation_context=context, ts_validation_context=context
        )
    except Exception:  # SigningError, parse errors inside the CMS blob, ...: all mean "not valid"
        return PdfVerification("invalid", "malformed_signature", sha256)
    signer = status.signing_cert.subject.human_friendly if status.signing_cert else None
    if not status.intact:
        return PdfVerification("invalid", "digest_mismatch", sha256, signer)
    if not status.valid:
        return PdfVerification("invalid", "bad_signature", sha256, signer)
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return PdfVerification("invalid", "modified_after_signing", sha256, signer)
    if not status.trusted:
        return PdfVerification("invalid", "untrusted_signer", sha256, signer)
    ts = status.timestamp_validity
    if ts is None:
        return PdfVerification("invalid", "no_timestamp", sha256, signer)
    if not (ts.intact and ts.valid and ts.trusted):
        return PdfVerification("invalid", "bad_timestamp", sha256, signer)
    try:
        raw = reader.root.get(QR_KEY)
        payload = str(raw) if raw is not None else None
    except Exception:
        payload = None
    if payload is None:
        return PdfVerification("invalid", "no_qr_payload", sha256, signer, ts.timestamp)
    qr = verify(payload, anchors.documents, now)
    if qr.status == "invalid":
        return PdfVerification("invalid", f"qr_{qr.reason}", sha256, signer, ts.timestamp, qr)
    return PdfVerification(qr.status, "signature_valid", sha256, signer, ts.timestamp, qr)
