"""PAdES B-T signatures with pyHanko: the hub's document-signing certificate plus an RFC 3161 time stamp.

The signature covers the whole file as written (``/ByteRange`` over everything but the signature itself);
the time stamp is a signature time-stamp token in the CMS unsigned attributes (ETSI EN 319 142-1 B-T). The
QR payload printed on the page is also stored in the document catalog (``/GongyuQR``) inside the signed range,
so offline tools can check both without decoding an image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pyhanko.pdf_utils.generic import NameObject, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hub.issuance.pki import Pki

SIGNATURE_FIELD = "GongyuSignature"
QR_KEY = "/GongyuQR"
SIGNATURE_BYTES = 12 * 1024  # the CMS blob (two chains and a time-stamp token) is about 6 KiB


@dataclass
class PdfSigner:
    pki: Pki
    timestamper: TimeStamper

    def __post_init__(self) -> None:
        self._signer = signers.SimpleSigner(
            signing_cert=self.pki.signer.asn1_cert(),
            signing_key=self.pki.signer.asn1_key(),
            cert_registry=SimpleCertificateStore.from_certs([self.pki.ca.asn1_cert()]),
        )

    def sign(self, pdf: bytes, qr_payload: str, number: str) -> bytes:
        """Sign (blocking: run it in a worker thread from async code)."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        writer.root[NameObject(QR_KEY)] = pdf_string(qr_payload)
        writer.update_root()
        meta = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=f"Gongyu e-document {number}",
            location="KR",
            name="Gongyu",
        )
        out = io.BytesIO()
        # A fixed reservation spares pyHanko a dry-run signature (and time stamp) to measure the CMS size.
        signers.sign_pdf(
            writer,
            meta,
            signer=self._signer,
            timestamper=self.timestamper,
            output=out,
            bytes_reserved=SIGNATURE_BYTES,
        )
        return out.getvalue()
