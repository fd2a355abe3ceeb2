"""The public verify page in real Debian Chromium: paste the QR text, upload a picture of it, see "revoked".

Documents are issued (and one revoked) through the live server's API. Headless Chromium on Linux has no
BarcodeDetector, so the camera button stays hidden and a chosen picture goes to the server (zxing-cpp): that
is the path this test drives. Screenshots land in test-artifacts/screenshots/verify-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import segno

from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _token(base: str, client: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/v1/auth/token", auth=(client, f"{client}-secret"), data={"grant_type": "client_credentials"}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _issue(base: str, backend: Backend, index: int, client: str = "test-bank") -> dict[str, str]:
    statute = "KR-RRA-29-2-1" if client == "test-agency" else "KR-FTRA-5-2"  # each client's own basis
    body = lookup_body(backend.residents[index]["resident_number"], statute=statute)
    response = httpx.post(f"{base}/v1/issuances", json=body, headers=_token(base, client), timeout=60)
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


def test_verify_page_pasted_uploaded_and_revoked_in_chromium(
    live_server: str, sqlite_backend: Backend, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    valid = _issue(live_server, sqlite_backend, 0)
    withdrawn = _issue(live_server, sqlite_backend, 3, "test-agency")  # only the issuer may revoke
    revoked = httpx.post(
        f"{live_server}/v1/issuances/{withdrawn['issuance_number']}/revoke",
        json={"reason": "issued to the wrong subject"},
        headers=_token(live_server, "test-agency"),
    )
    assert revoked.status_code == 200, revoked.text
    picture = tmp_path / "qr.png"
    segno.make_qr(valid["qr_payload"], error="q").save(str(picture), scale=6, border=4)
    shots = artifacts("screenshots")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            failed: list[str] = []  # answers >= 400 other than the page's own refusal of a non-picture
            page.on(
                "response",
                lambda r: (
                    failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )

            # (a) paste the QR code text
            page.goto(f"{live_server}/verify?lang=en")
            expect(page.locator("h1")).to_have_text("Verify an e-document")
            has_detector = page.evaluate("() => 'BarcodeDetector' in window")
            if not has_detector:
                expect(page.locator("#scan")).to_be_hidden()
            expect(page.locator("#image-auto")).to_be_visible()  # the script runs under the CSP
            page.fill("#qr_payload", valid["qr_payload"])
            page.locator("#text-form button[type=submit]").click()
            verdict = page.locator("#verdict")
            expect(verdict).to_have_attribute("data-status", "valid")
            expect(verdict).to_have_attribute("role", "status")
            expect(page.locator(".verdict-word")).to_have_text("Valid")
            expect(page.locator(".verdict-headline")).to_have_text("This document is genuine.")
            assert page.evaluate("() => document.activeElement.id") == "verdict"
            size = page.evaluate(
                "() => parseFloat(getComputedStyle(document.querySelector('.verdict-word')).fontSize)"
            )
            assert size >= 32, size  # large words
            expect(page.locator(".verify-details")).to_contain_text(valid["issuance_number"])
            expect(page.locator(".verify-content")).to_contain_text(sqlite_backend.residents[0]["name_ko"])
            page.screenshot(path=str(shots / "verify-valid.png"), full_page=True)
            assert axe_violations(page) == []

            # (c) upload a picture of the QR code: chosen, read by the server, answered
            page.goto(f"{live_server}/verify?lang=ko")
            page.set_input_files("#qr_image", str(picture))
            expect(page.locator("#verdict")).to_have_attribute("data-status", "valid", timeout=15_000)
            expect(page.locator(".verdict-word")).to_have_text("유효")
            expect(page.locator(".verify-details")).to_contain_text("사진에서 읽은 QR 코드")

            # a file that is not a picture: a clear message, not an error page
            text_file = tmp_path / "notes.txt"
            text_file.write_text("not a picture", encoding="utf-8")
            page.goto(f"{live_server}/verify?lang=en")
            page.set_input_files("#qr_image", str(text_file))
            expect(page.locator("#verify-error")).to_contain_text("not a picture this page can read")

            # (b) type the issuance number of the revoked document
            page.goto(f"{live_server}/verify?lang=en")
            page.fill("#issuance_number", withdrawn["issuance_number"])
            page.locator("#number-form button[type=submit]").click()
            expect(page.locator("#verdict")).to_have_attribute("data-status", "revoked")
            expect(page.locator(".verdict-word")).to_have_text("Revoked")
            expect(page.locator(".verdict-headline")).to_contain_text("Do not accept it.")
            # The number alone gives the status; the reason is for a verifier who also has the check code.
            expect(page.locator(".verdict-reason")).to_contain_text("Type the check code too")
            expect(page.locator(".verify-details")).not_to_contain_text("issued to the wrong subject")
            assert page.title().startswith("Revoked · ")
            page.screenshot(path=str(shots / "verify-revoked.png"), full_page=True)
            assert axe_violations(page) == []
            assert problems == [], problems
            assert failed == [f"415 {live_server}/verify?lang=en"], failed
        finally:
            browser.close()
    assert (shots / "verify-valid.png").stat().st_size > 0
    assert (shots / "verify-revoked.png").stat().st_size > 0
