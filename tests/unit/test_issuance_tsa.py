"""The built-in TSA checks requests as RFC 3161 §2.4.1 asks and honours certReq; the PKI's certificates."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hub.issuance.pki import DOCUMENT_SIGNING, Pki, load_or_create_pki
from hub.issuance.tsa import POLICY_OID, TimeStampAuthority


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return load_or_create_pki(tmp_path_factory.mktemp("pki"))


def _request(algorithm: str = "sha256", digest: bytes | None = None, **extra: object) -> bytes:
    digest = digest if digest is not None else hashlib.new(algorithm, b"data").digest()
    body = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "nonce": 20261123,
        **extra,
    }
    return bytes(tsp.TimeStampReq(body).dump())


class _Status(core.Sequence):  # type: ignore[misc]
    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012


def _status(reply: bytes) -> tuple[str, set[str]]:
    info = _Status.load(reply)["status"]
    return info["status"].native, set(info["fail_info"].native or ())


def test_granted_token_carries_policy_nonce_and_certificates_only_when_asked(pki: Pki) -> None:
    tsa = TimeStampAuthority(pki.tsa, [pki.ca])
    with_certs = tsp.TimeStampResp.load(tsa.respond_der(_request(cert_req=True)))
    assert with_certs["status"]["status"].native == "granted"
    signed: cms.SignedData = with_certs["time_stamp_token"]["content"]
    info = signed["encap_content_info"]["content"].parsed
    assert info["policy"].native == POLICY_OID and info["nonce"].native == 20261123
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(b"data").digest()
    assert len(signed["certificates"]) == 2
    without = tsp.TimeStampResp.load(tsa.respond_der(_request()))
    assert without["time_stamp_token"]["content"]["certificates"].native is None


@pytest.mark.parametrize(
    ("request_bytes", "fail_info"),
    [
        (_request("sha1"), "bad_alg"),
        (_request("sha256", digest=b"short"), "bad_data_format"),
        (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
        (b"not DER at all", "bad_data_format"),
        (b"\x30" + b"\x82\x10\x00" + b"\x00" * 4096, "bad_data_format"),
    ],
)
def test_bad_requests_are_rejected_not_errors(pki: Pki, request_bytes: bytes, fail_info: str) -> None:
    tsa = TimeStampAuthority(pki.tsa, [pki.ca])
    assert _status(tsa.respond_der(request_bytes)) == ("rejection", {fail_info})


def test_certificates_carry_the_usages_verifiers_check(pki: Pki, tmp_path: Path) -> None:
    tsa_eku = pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    signer_eku = pki.signer.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(signer_eku.value) == [DOCUMENT_SIGNING]
    usage = pki.signer.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    ca = pki.ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca.ca and ca.path_length == 0
    for leaf in (pki.signer, pki.tsa):
        assert leaf.cert.issuer == pki.ca.cert.subject
        pki.ca.cert.public_key().verify(  # type: ignore[call-arg, union-attr]
            leaf.cert.signature, leaf.cert.tbs_certificate_bytes, _ecdsa_sha256()
        )


def _ecdsa_sha256() -> object:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.ECDSA(hashes.SHA256())


def test_the_pki_is_created_once_and_reused(tmp_path: Path) -> None:
    first = load_or_create_pki(tmp_path)
    second = load_or_create_pki(tmp_path)
    assert first.ca.cert_der == second.ca.cert_der and first.signer.cert_der == second.signer.cert_der
    assert oct((tmp_path / "ca.key.pem").stat().st_mode & 0o777) == "0o600"
