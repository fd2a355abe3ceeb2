"""The signed PDF, checked by independent tools: pyHanko's validator, poppler's pdfsig, OpenSSL's ts.

One document is issued for the whole module (signing is the slow part) through the real service on SQLite.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from typer.testing import CliRunner

from consent import Actor
from document_specs.loader import load_catalog
from hub.issuance import fonts, pdf, qr
from hub.issuance.cli import doc_app, keys_app
from hub.issuance.signing import PdfSigner
from hub.issuance.tsa import REPLY_TYPE, HttpTimeStamper
from hub.issuance.verify import TrustAnchors, verify_pdf
from hub.state import build_state
from hub.uow import transaction
from tests.conftest import Backend, lookup_body


def _cli() -> typer.Typer:
    """Mounted as hub/cli/__init__.py mounts it."""
    app = typer.Typer()
    app.add_typer(doc_app, name="doc")
    app.add_typer(keys_app, name="keys")
    return app


BANK = Actor(
    kind="client",
    id="test-bank",
    org="Test Bank",
    client_kind="bank",
    statutes=frozenset({"KR-FTRA-5-2", "KR-RRA-29-2-1"}),
)


@dataclass(frozen=True)
class Issued:
    number: str
    payload: str
    pdf: bytes
    jwks: dict[str, Any]
    name: str

    @property
    def anchors(self) -> TrustAnchors:
        return TrustAnchors.from_jwks(self.jwks)

    def ca_pem(self) -> bytes:
        (ca,) = [k for k in self.jwks["keys"] if k.get("gongyu_purpose") == "document-ca"]
        body = "\n".join(ca["x5c"][0][i : i + 64] for i in range(0, len(ca["x5c"][0]), 64))
        return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


@pytest.fixture(scope="module")
def issued(sqlite_backend: Backend) -> Issued:
    async def run() -> Issued:
        state = build_state(sqlite_backend.settings)
        try:
            resident = sqlite_backend.residents[0]
            body = json.dumps(lookup_body(resident["resident_number"])).encode()
            async with transaction(state.sessions) as session:
                out = await state.issuance.issue(session, BANK, body, "pdf-tests")
            _, data = await state.issuance.pdf_for(BANK, out.issuance_number)
            return Issued(
                out.issuance_number,
                out.qr_payload,
                data,
                {"keys": state.issuance.jwks()},
                resident["name_ko"],
            )
        finally:
            await state.close()

    return asyncio.run(run())


def _one_byte_changed(data: bytes) -> bytes:
    """Flip a byte inside the first content stream (well inside the signed byte range)."""
    start = data.index(b"stream", data.index(b"/Length")) + 40
    changed = bytearray(data)
    changed[start] ^= 0x20
    return bytes(changed)


def test_pyhanko_validates_signature_chain_and_timestamp(issued: Issued) -> None:
    result = verify_pdf(issued.pdf, issued.anchors, datetime.now(UTC))
    assert (result.status, result.reason) == ("valid", "signature_valid")
    assert result.signer is not None and "Gongyu Document Signing" in result.signer
    assert result.timestamp is not None and abs((datetime.now(UTC) - result.timestamp).total_seconds()) < 600
    assert result.qr is not None and result.qr.status == "valid" and result.qr.claims is not None
    assert result.qr.claims.number == issued.number.replace("-", "")
    assert result.qr.claims.pdf_sha256 is None  # the printed QR cannot hold its own file's hash


def test_pyhanko_rejects_one_changed_byte(issued: Issued) -> None:
    result = verify_pdf(_one_byte_changed(issued.pdf), issued.anchors, datetime.now(UTC))
    assert result.status == "invalid" and result.reason == "digest_mismatch"


def test_pyhanko_rejects_a_pdf_under_another_ca(issued: Issued, tmp_path: Path) -> None:
    from hub.issuance.pki import load_or_create_pki

    other = load_or_create_pki(tmp_path)
    jwks = {
        "keys": [k for k in issued.jwks["keys"] if k.get("gongyu_purpose") != "document-ca"]
        + [{"gongyu_purpose": "document-ca", "x5c": [base64.b64encode(other.ca.cert_der).decode()]}]
    }
    result = verify_pdf(issued.pdf, TrustAnchors.from_jwks(jwks), datetime.now(UTC))
    assert (result.status, result.reason) == ("invalid", "untrusted_signer")


@pytest.fixture(scope="module")
def pdf_file(issued: Issued, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "document.pdf"
    path.write_bytes(issued.pdf)
    return path


def _pdfsig(path: Path) -> str:
    assert shutil.which("pdfsig"), "pdfsig (Debian poppler-utils) is required"
    run = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return run.stdout + run.stderr


def test_pdfsig_reports_a_valid_signature_over_the_whole_file(pdf_file: Path) -> None:
    report = _pdfsig(pdf_file)
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report
    assert "Signer Certificate Common Name: Gongyu Document Signing" in report
    assert "ETSI.CAdES.detached" in report  # PAdES


def test_pdfsig_reports_one_changed_byte(issued: Issued, tmp_path: Path) -> None:
    path = tmp_path / "changed.pdf"
    path.write_bytes(_one_byte_changed(issued.pdf))
    report = _pdfsig(path)
    assert "Signature is Valid" not in report
    assert "Digest Mismatch" in report, report


def test_the_signature_time_stamp_verifies_with_openssl(issued: Issued, tmp_path: Path) -> None:
    reader = PdfFileReader(io.BytesIO(issued.pdf))
    signer_info = reader.embedded_signatures[0].signed_data["signer_infos"][0]
    tokens = [a for a in signer_info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    assert len(tokens) == 1
    token: cms.ContentInfo = tokens[0]["values"][0]
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "ca.pem").write_bytes(issued.ca_pem())
    digest = hashlib.sha256(signer_info["signature"].native).hexdigest()
    run = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            digest,
            "-in",
            str(tmp_path / "token.der"),
            "-token_in",
            "-CAfile",
            str(tmp_path / "ca.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Verification: OK" in run.stdout, run.stdout + run.stderr


def test_the_pdf_embeds_a_korean_font_and_shows_the_document(issued: Issued, pdf_file: Path) -> None:
    fonts_report = subprocess.run(
        ["pdffonts", str(pdf_file)], capture_output=True, text=True, timeout=60
    ).stdout
    line = next(line for line in fonts_report.splitlines() if fonts.FONT_NAME in line)
    assert " yes yes yes " in f" {' '.join(line.split()[-5:-2])} "  # embedded, subset, unicode map
    text = subprocess.run(
        ["pdftotext", str(pdf_file), "-"], capture_output=True, text=True, timeout=60
    ).stdout
    for expected in (
        "주민등록표 초본",
        "Resident registration abstract",
        "성명",
        "Name",
        issued.number,
        issued.name,
        "발급일시",
        "Issued at",
        "/verify",
    ):
        assert expected in text, expected


def test_doc_verify_cli_offline_with_a_jwks_file(issued: Issued, pdf_file: Path, tmp_path: Path) -> None:
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(issued.jwks))
    runner = CliRunner()
    good = runner.invoke(_cli(), ["doc", "verify", str(pdf_file), "--keys", str(jwks), "--json"])
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["status"] == "valid"
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(_one_byte_changed(issued.pdf))
    bad = runner.invoke(_cli(), ["doc", "verify", str(changed), "--keys", str(jwks), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["reason"] == "digest_mismatch"
    payload = runner.invoke(_cli(), ["doc", "verify", issued.payload, "--keys", str(jwks), "--json"])
    assert payload.exit_code == 0 and json.loads(payload.stdout)["claims"][
        "issuance_number"
    ] == issued.number.replace("-", "")
    forged = runner.invoke(_cli(), ["doc", "verify", issued.payload[:-6] + "AAAAAA", "--keys", str(jwks)])
    assert forged.exit_code == 1


def test_keys_rotate_keeps_old_payloads_verifiable(
    issued: Issued, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONGYU_KEY_DIR", str(tmp_path / "keys"))
    runner = CliRunner()
    old_payload_keys = runner.invoke(_cli(), ["doc", "verify", issued.payload, "--json"])
    assert old_payload_keys.exit_code == 1  # a different hub's keys: unknown key
    assert runner.invoke(_cli(), ["keys", "rotate"]).exit_code == 0
    assert runner.invoke(_cli(), ["keys", "rotate"]).exit_code == 0
    listed = runner.invoke(_cli(), ["keys", "list"])
    assert listed.exit_code == 0 and listed.output.count("→") == 3
    from hub.issuance.keys import DocumentKeyRing

    ring = DocumentKeyRing.load_or_create(tmp_path / "keys" / "issuance" / "cose")
    assert [k.exp is None for k in ring.all()] == [False, False, True]


def _render(sqlite_backend: Backend, view: str, fields: dict[str, Any]) -> bytes:
    spec = load_catalog()["resident_registration_abstract"]
    return pdf.render(
        pdf.RenderRequest(
            spec, view, fields, "6025244779942406", datetime.now(UTC), "GY1:ABC", "http://x/verify", "000000"
        ),
        fonts.register(),
    )


def test_an_external_tsa_over_http(issued: Issued, sqlite_backend: Backend) -> None:
    state = build_state(sqlite_backend.settings)
    try:
        tsa = state.issuance.signing.tsa

        def answer(request: httpx.Request) -> httpx.Response:
            assert request.headers["content-type"] == "application/timestamp-query"
            return httpx.Response(
                200, content=tsa.respond_der(request.content), headers={"Content-Type": REPLY_TYPE}
            )

        signer = PdfSigner(
            state.issuance.signing.pki,
            HttpTimeStamper("http://tsa.test/tsa", transport=httpx.MockTransport(answer)),
        )
        unsigned = _render(sqlite_backend, "basic", {"name": "박유나"})
        signed = signer.sign(unsigned, issued.payload, "6025244779942406")
        result = verify_pdf(signed, issued.anchors, datetime.now(UTC))
        # the embedded payload belongs to another number, but the signature and time stamp are what we check
        assert result.timestamp is not None and result.reason in {"signature_valid"}

        down = PdfSigner(
            state.issuance.signing.pki,
            HttpTimeStamper(
                "http://tsa.test/tsa", transport=httpx.MockTransport(lambda r: httpx.Response(503))
            ),
        )
        with pytest.raises(TimestampRequestError):
            down.sign(unsigned, issued.payload, "6025244779942406")
    finally:
        asyncio.run(state.close())


def test_long_lists_flow_onto_more_pages(sqlite_backend: Backend) -> None:
    history = [
        {
            "seq": i,
            "address": f"서울특별시 서초구 서초대로 {i}길 아주 긴 주소 {i}",
            "moved_in_on": "2001-01-01",
            "moved_out_on": "2002-01-01",
            "reason": "전입",
        }
        for i in range(1, 80)
    ]
    data = _render(
        sqlite_backend,
        "with_address_history",
        {"name": "박유나", "name_hanja": "朴有娜", "address_history": history},
    )
    assert len(PdfFileReader(io.BytesIO(data)).root["/Pages"]["/Kids"]) >= 3
    assert qr.PREFIX  # the module under test renders QR codes on the first page only


def test_the_qr_printed_in_the_pdf_scans_and_verifies(issued: Issued, pdf_file: Path, tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image

    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf_file), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    (page,) = tmp_path.glob("page*.png")
    found = zxingcpp.read_barcodes(Image.open(page))
    assert len(found) == 1 and found[0].ec_level == "Q"
    result = qr.verify(found[0].text, issued.anchors.documents, datetime.now(UTC))
    assert result.status == "valid" and result.claims is not None
    assert result.claims.number == issued.number.replace("-", "")
    assert result.claims.fields is not None and result.claims.fields["name"] == issued.name
