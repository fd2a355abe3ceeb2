"""The built-in RFC 3161 time-stamping authority, and the client for an external one.

The hub's TSA signs ``TSTInfo`` with an RSA key whose certificate (under the hub CA) carries the critical
``id-kp-timeStamping`` usage (RFC 3161 §2.3), with an ESSCertIDv2 signing-certificate attribute (RFC 5816).
It is served at ``POST /tsa`` and used in-process when PDFs are signed (no HTTP round trip); setting
``GONGYU_TSA_URL`` sends PDF time-stamp requests to an external TSA instead.

Requests are checked as RFC 3161 §2.4.1 asks: a known hash algorithm with a digest of the right length, an
acceptable policy, and ``certReq`` honoured (the certificates are included only when asked for).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from hub.issuance.pki import Credential

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# A UUID-derived OID (ITU-T X.667 arc 2.25) naming this hub's time-stamping policy; no registration needed.
POLICY_OID = "2.25.160925917209356329437532547104125830153"
MAX_REQUEST_BYTES = 4096
_DIGESTS: dict[str, tuple[int, type[hashes.HashAlgorithm]]] = {
    "sha256": (32, hashes.SHA256),
    "sha384": (48, hashes.SHA384),
    "sha512": (64, hashes.SHA512),
}


class _StatusOnly(core.Sequence):  # type: ignore[misc]
    """A TimeStampResp without a token: asn1crypto's own class insists on the (optional) token."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012 - asn1crypto declares fields this way


class Rejected(Exception):
    """RFC 3161 §2.4.2 ``rejection`` with a PKIFailureInfo bit name and a text."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text

    def der(self) -> bytes:
        status = tsp.PKIStatusInfo(
            {
                "status": tsp.PKIStatus("rejection"),
                "status_string": tsp.PKIFreeText([self.text]),
                "fail_info": tsp.PKIFailureInfo({self.fail_info}),
            }
        )
        return bytes(_StatusOnly({"status": status}).dump())


class TimeStampAuthority(TimeStamper):
    """Answers ``TimeStampReq`` with signed tokens; also a pyHanko ``TimeStamper`` for in-process signing."""

    def __init__(self, credential: Credential, chain: list[Credential]) -> None:
        super().__init__(include_nonce=True)
        key = credential.key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the TSA key must be RSA")
        self._key = key
        self.cert = credential.asn1_cert()
        self._chain = [c.asn1_cert() for c in chain]
        # Constants are parsed back from DER once: asn1crypto re-serialises constructed values on every
        # dump, which made a token cost ~30 ms instead of ~2 ms.
        self._signing_certificate = cms.CMSAttribute.load(
            simple_cms_attribute(
                "signing_certificate_v2", as_signing_certificate_v2(self.cert, "sha256")
            ).dump()
        )
        self._sid = cms.SignerIdentifier.load(
            cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": self.cert.issuer, "serial_number": self.cert.serial_number}
                    )
                }
            ).dump()
        )
        self._tsa_name = x509.GeneralName.load(
            x509.GeneralName(name="directory_name", value=self.cert.subject).dump()
        )
        self._certificates = cms.CertificateSet.load(cms.CertificateSet([self.cert, *self._chain]).dump())
        self.cert_pem = credential.cert_pem

    def respond(self, request: tsp.TimeStampReq, now: datetime | None = None) -> tsp.TimeStampResp:
        """A granted response, or ``Rejected`` (checks as RFC 3161 §2.4.1)."""
        try:
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            policy = request["req_policy"].native
            cert_req = bool(request["cert_req"].native)
            nonce = request["nonce"]
            _ = nonce.native
        except (ValueError, TypeError, KeyError):
            raise Rejected("bad_data_format", "malformed TimeStampReq") from None
        if request["version"].native != "v1":
            raise Rejected("bad_request", "unsupported request version")
        if algorithm not in _DIGESTS:
            raise Rejected("bad_alg", f"unsupported hash algorithm {algorithm}")
        if not isinstance(digest, bytes) or len(digest) != _DIGESTS[algorithm][0]:
            raise Rejected("bad_data_format", "message imprint has the wrong length")
        if policy is not None and policy != POLICY_OID:
            raise Rejected("unaccepted_policy", "unknown policy")
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(120),
            "gen_time": moment,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": self._tsa_name,
        }
        if nonce.native is not None:
            info["nonce"] = nonce
        token = self._sign(tsp.TSTInfo(info).dump(), moment, cert_req)
        return tsp.TimeStampResp(
            {"status": tsp.PKIStatusInfo({"status": tsp.PKIStatus("granted")}), "time_stamp_token": token}
        )

    def _sign(self, tst_info: bytes, moment: datetime, cert_req: bool) -> cms.ContentInfo:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(tst_info)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(moment)})),
                self._signing_certificate,
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
        sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": self._sid,
                "digest_algorithm": sha256,
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": cms.DigestAlgorithms([sha256]),
            "encap_content_info": cms.EncapsulatedContentInfo(
                {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)}
            ),
            "signer_infos": [signer_info],
        }
        if cert_req:
            signed_data["certificates"] = self._certificates
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})

    def respond_der(self, body: bytes) -> bytes:
        """Bytes in, bytes out, as served at ``POST /tsa``; malformed input gets a rejection, not an error."""
        if len(body) > MAX_REQUEST_BYTES:
            return Rejected("bad_data_format", "request too large").der()
        try:
            request = tsp.TimeStampReq.load(body)
            _ = request.native  # parse everything now, inside the try
        except (ValueError, TypeError, KeyError):
            return Rejected("bad_data_format", "malformed TimeStampReq").der()
        try:
            return bytes(self.respond(request).dump())
        except Rejected as rejected:
            return rejected.der()

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            return self.respond(req)
        except Rejected as rejected:
            raise TimestampRequestError(f"time stamp rejected: {rejected.text}") from None


class HttpTimeStamper(TimeStamper):
    """An external RFC 3161 TSA over HTTP (RFC 3161 §3.4), with httpx."""

    def __init__(self, url: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(include_nonce=True)
        self.url = url
        self.timeout = timeout
        self._transport = transport

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client:
                response = await client.post(
                    self.url, content=req.dump(), headers={"Content-Type": QUERY_TYPE}
                )
        except httpx.HTTPError as exc:
            raise TimestampRequestError(f"time-stamp request failed: {type(exc).__name__}") from None
        if (
            response.status_code != 200
            or response.headers.get("content-type", "").split(";")[0] != REPLY_TYPE
        ):
            raise TimestampRequestError(f"time-stamp server answered {response.status_code}")
        return tsp.TimeStampResp.load(response.content)
