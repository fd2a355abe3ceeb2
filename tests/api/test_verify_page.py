"""The public verify page (/verify): six languages, the answer in words, and a picture of the QR code.

Pictures are made with segno from a document the hub really issued, then posted as the page's multipart form
(what the browser does when it has no BarcodeDetector); the server reads them with zxing-cpp.
"""

from __future__ import annotations

import io
import re

import httpx
import pytest
import segno
from PIL import Image

from hub import i18n
from hub.issuance import numbers
from hub.state import HubState
from hub.web.verify_page import MAX_UPLOAD_BYTES
from tests.conftest import Backend, bearer, lookup_body

pytestmark = pytest.mark.anyio


async def _issue(
    api: httpx.AsyncClient, state: HubState, backend: Backend, index: int = 0, client: str = "test-bank"
) -> dict[str, str]:
    statute = "KR-RRA-29-2-1" if client == "test-agency" else "KR-FTRA-5-2"  # each client's own basis
    body = lookup_body(backend.residents[index]["resident_number"], statute=statute)
    response = await api.post("/v1/issuances", json=body, headers=bearer(state, client))
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


def _png(text: str, **options: object) -> bytes:
    out = io.BytesIO()
    segno.make_qr(text, error="q").save(out, kind="png", scale=6, border=4, **options)
    return out.getvalue()


def _upload(data: bytes, name: str = "qr.png", kind: str = "image/png") -> dict[str, tuple[str, bytes, str]]:
    return {"qr_image": (name, data, kind)}


def _verdict(html: str) -> str:
    found = re.search(r'<section id="verdict".*?</section>', html, re.S)
    assert found, "the page shows no status block"
    return found.group(0)


def _t(lang: str, key: str) -> str:
    return i18n.gettext(lang, "verify", key)


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
async def test_the_page_speaks_every_language_under_the_strict_csp(api: httpx.AsyncClient, lang: str) -> None:
    page = await api.get(f"/verify?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert page.headers["content-language"] == lang
    assert page.cookies.get("gy_lang") == lang
    for key in ("verify.title", "verify.scan_button", "verify.image_label", "verify.qr_label"):
        assert _t(lang, key) in page.text, key
    assert 'accept="image/*"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert re.search(r'<div id="scan" class="scan" hidden', page.text), "the camera waits for the script"
    assert "<style" not in page.text and " style=" not in page.text
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "media-src 'self' blob:" in csp
    # Every language can be chosen from the page itself.
    for other in i18n.SUPPORTED:
        assert f'hreflang="{other}"' in page.text


async def test_accept_language_picks_the_page_language(api: httpx.AsyncClient) -> None:
    page = await api.get("/verify", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
    assert '<html lang="vi">' in page.text and _t("vi", "verify.title") in page.text


async def test_a_picture_of_a_real_qr_code_is_read_on_the_server_and_is_valid(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend)
    answer = await api.post("/verify?lang=en", files=_upload(_png(issued["qr_payload"])))
    assert answer.status_code == 200, answer.text
    verdict = _verdict(answer.text)
    assert 'data-status="valid"' in verdict and 'role="status"' in verdict and 'aria-live="polite"' in verdict
    assert ">Valid<" in verdict and "This document is genuine." in verdict
    assert "QR code read from a picture" in answer.text
    assert issued["issuance_number"] in answer.text and issued["pdf_sha256"] in answer.text
    assert backend.residents[0]["name_ko"] in answer.text  # the content, within the retention window
    assert issued["qr_payload"] in answer.text  # what was read is shown in the text form

    # A transparent-background picture (alpha flattened onto white) and a JPEG read the same.
    clear = await api.post("/verify?lang=ko", files=_upload(_png(issued["qr_payload"], light=None)))
    assert 'data-status="valid"' in _verdict(clear.text) and _t("ko", "verify.status.valid") in clear.text
    photo = io.BytesIO()
    Image.open(io.BytesIO(_png(issued["qr_payload"]))).convert("RGB").save(photo, "JPEG", quality=90)
    jpeg = await api.post("/verify?lang=ja", files=_upload(photo.getvalue(), "photo.jpg", "image/jpeg"))
    assert 'data-status="valid"' in _verdict(jpeg.text) and _t("ja", "verify.status.valid") in jpeg.text


async def test_a_picture_of_a_forged_or_foreign_qr_code_is_invalid(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    foreign = await api.post("/verify?lang=en", files=_upload(_png("https://example.com/not-gongyu")))
    assert foreign.status_code == 200
    assert 'data-status="invalid"' in _verdict(foreign.text) and ">Invalid<" in foreign.text
    assert "does not start with GY1:" in foreign.text


async def test_a_file_that_is_not_a_picture_is_refused_with_a_clear_message(api: httpx.AsyncClient) -> None:
    for name, data, kind in (
        ("notes.txt", b"GY1:this is text, not a picture", "text/plain"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),  # a PNG signature and nothing else
        ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    ):
        answer = await api.post("/verify?lang=en", files=_upload(data, name, kind))
        assert answer.status_code == 415, (name, answer.status_code)
        assert "not a picture this page can read" in answer.text
        assert 'role="alert"' in answer.text and 'id="verdict"' not in answer.text
    korean = await api.post("/verify?lang=ko", files=_upload(b"hello", "a.txt", "text/plain"))
    assert korean.status_code == 415 and _t("ko", "verify.upload_not_image") in korean.text


async def test_a_picture_without_a_qr_code_says_so(api: httpx.AsyncClient) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(blank, "PNG")
    answer = await api.post("/verify?lang=th", files=_upload(blank.getvalue()))
    assert answer.status_code == 422
    assert _t("th", "verify.upload_no_qr") in answer.text


async def test_oversized_uploads_are_refused_before_decoding(api: httpx.AsyncClient) -> None:
    too_big = await api.post("/verify?lang=en", files=_upload(b"\x00" * (MAX_UPLOAD_BYTES + 1)))
    assert too_big.status_code == 413
    assert "larger than 5 MB" in too_big.text and 'role="alert"' in too_big.text
    far_too_big = await api.post("/verify?lang=en", files=_upload(b"\x00" * (MAX_UPLOAD_BYTES + 512 * 1024)))
    assert far_too_big.status_code == 413 and "larger than 5 MB" in far_too_big.text
    # A small file that would unpack into a huge bitmap.
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < MAX_UPLOAD_BYTES
    pixels = await api.post("/verify?lang=en", files=_upload(bomb.getvalue()))
    assert pixels.status_code == 413 and "too many pixels" in pixels.text


async def test_one_way_at_a_time_and_nothing_is_not_a_500(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    nothing = await api.post("/verify?lang=en", data={"qr_payload": " ", "issuance_number": ""})
    assert nothing.status_code == 422 and "Enter the QR code text or an issuance number" in nothing.text
    empty_file = await api.post("/verify?lang=en", files=_upload(b"", "", "application/octet-stream"))
    assert empty_file.status_code == 422
    issued = await _issue(api, hub_state, backend)
    both = await api.post(
        "/verify?lang=en",
        data={"issuance_number": issued["issuance_number"]},
        files=_upload(_png(issued["qr_payload"])),
    )
    assert both.status_code == 422 and "Use one way at a time" in both.text
    garbled = await api.post(
        "/verify?lang=en",
        content=b'--x\r\nContent-Disposition: form-data; name="qr_image"; filename="a.png"\r\n\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert garbled.status_code in {400, 415, 422} and 'role="alert"' in garbled.text


async def test_a_revoked_document_says_revoked_in_large_words_in_every_language(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 3, client="test-agency")  # only the issuer may revoke
    check = hub_state.issuance._crypto.check_code(issued["issuance_number"].replace("-", ""))
    revoked = await api.post(
        f"/v1/issuances/{issued['issuance_number']}/revoke",
        json={"reason": "발급 오류"},
        headers=bearer(hub_state, "test-agency"),
    )
    assert revoked.status_code == 200, revoked.text
    for lang in i18n.SUPPORTED:
        typed = {"issuance_number": issued["issuance_number"], "check": check}  # the reason needs the check
        answer = await api.post(f"/verify?lang={lang}", data=typed)
        assert answer.status_code == 200
        verdict = _verdict(answer.text)
        assert 'data-status="revoked"' in verdict
        assert f'<p class="verdict-word" id="verdict-word">{_t(lang, "verify.status.revoked")}</p>' in verdict
        assert _t(lang, "verify.headline.revoked") in verdict
        assert "발급 오류" in answer.text  # the revocation reason, in the details
        assert _t(lang, "verify.revocation_reason") in answer.text
        assert f"<title>{_t(lang, 'verify.status.revoked')} · " in answer.text
    by_picture = await api.post("/verify?lang=en", files=_upload(_png(issued["qr_payload"])))
    assert 'data-status="revoked"' in _verdict(by_picture.text) and ">Revoked<" in by_picture.text


async def test_an_unknown_number_and_dates_in_the_page_language(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    never_issued = numbers.display(numbers.generate())
    unknown = await api.post("/verify?lang=zh", data={"issuance_number": never_issued})
    assert unknown.status_code == 200 and 'data-status="unknown"' in _verdict(unknown.text)
    assert _t("zh", "verify.status.unknown") in unknown.text
    assert _t("zh", "verify.headline.unknown") in unknown.text
    issued = await _issue(api, hub_state, backend)
    answer = await api.post("/verify?lang=en", data={"issuance_number": issued["issuance_number"]})
    assert " KST" in answer.text  # issued at, shown in Korean time in the reader's locale
    assert _t("en", "verify.why.status_only") in answer.text  # the number alone: the status, not the content
