"""The resident's history verified in real Debian Chromium: WebCrypto checks the checkpoint and every proof.

Lookups go through the live server's API first; its integrator publishes a checkpoint within a second. The
page's own script (static/verify.js) must then say every entry is verified, and after one proof hash is
tampered with in the DOM, that this entry (and so the whole page) is not verified.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import support
from tests.browser.support import CHROMIUM_FLAGS
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _consent(base: str, bank_token: str) -> str:
    created = httpx.post(
        f"{base}/v1/consent-requests",
        headers={"Authorization": f"Bearer {bank_token}"},
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": "전세자금대출 심사"},
            "redirect_uri": "https://bank.test/callback",
        },
    )
    created.raise_for_status()
    login = httpx.post(f"{base}/v1/auth/login", json={"username": "resident2", "password": "resident2-pw"})
    login.raise_for_status()
    approved = httpx.post(
        f"{base}/v1/me/consent-requests/{created.json()['request_id']}/approve",
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        json={},
    )
    approved.raise_for_status()
    return str(approved.json()["consent"]["consent_id"])


def test_history_verifies_in_chromium_and_a_tampered_proof_does_not(
    live_server: str, sqlite_backend: Backend, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    token = httpx.post(
        f"{live_server}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    number = sqlite_backend.residents[2]["resident_number"]
    for view, status in (("basic", 200), ("basic", 200), ("with_address_history", 403)):
        response = httpx.post(
            f"{live_server}/v1/lookups",
            headers={"Authorization": f"Bearer {token}"},
            json={**lookup_body(number), "view": view},
        )
        assert response.status_code == status, response.text
    time.sleep(1.5)  # the integrator checkpoints at least every second

    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium package (make test does it as root)"
    artifacts = support.artifacts()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server}/me/history")
            page.fill("#username", "resident2")
            page.fill("#password", "resident2-pw")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("내 정보 조회 기록")
            for _ in range(20):  # anything still pending is integrated within a second or two
                if page.locator("#history .verify-result[data-result=pending]").count() == 0:
                    break
                time.sleep(0.5)
                page.reload()
            entries = page.locator("#history .entry")
            count = entries.count()
            assert count >= 3
            assert page.locator("#history .verify-result[data-result=pending]").count() == 0

            page.focus("#verify-button")  # keyboard: focus the button and press Enter
            page.keyboard.press("Enter")
            status = page.locator("#verify-status")
            expect(status).to_have_attribute("data-result", "verified", timeout=15_000)
            expect(status).to_contain_text("확인됨")
            assert status.get_attribute("aria-live") == "polite"
            expect(page.locator("#history .verify-result[data-result=verified]")).to_have_count(count)
            for text in page.locator("#history .verify-result").all_inner_texts():
                assert "확인됨" in text
            page.screenshot(path=str(artifacts / "resident-history-verified.png"), full_page=True)
            page.locator("#verify-status").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "resident-history-verified-screen.png"))

            # Tamper with one proof hash (flip a byte) and verify again.
            tampered = page.evaluate(
                """() => {
                  const entry = Array.from(document.querySelectorAll('#history .entry[data-proof]'))
                    .find((el) => el.getAttribute('data-proof').trim() !== '');
                  const hashes = entry.getAttribute('data-proof').split(' ');
                  const bytes = Uint8Array.from(atob(hashes[0]), (c) => c.charCodeAt(0));
                  bytes[0] ^= 1;
                  hashes[0] = btoa(String.fromCharCode(...bytes));
                  entry.setAttribute('data-proof', hashes.join(' '));
                  return entry.id;
                }"""
            )
            page.click("#verify-button")
            expect(status).to_have_attribute("data-result", "failed", timeout=15_000)
            expect(status).to_contain_text("확인 실패")
            bad = page.locator(f"#{tampered} .verify-result")
            expect(bad).to_have_attribute("data-result", "failed")
            expect(bad).to_contain_text("확인 실패")
            expect(page.locator("#history .verify-result[data-result=verified]")).to_have_count(count - 1)
            page.screenshot(path=str(artifacts / "resident-history-tampered.png"), full_page=True)

            # The consents page in the same browser: pause a consent with the keyboard.
            consent_id = _consent(live_server, token)
            page.goto(f"{live_server}/me/consents")
            card = page.locator(f"[data-consent-id='{consent_id}']")
            expect(card).to_have_attribute("data-state", "active")
            card.locator("form[action$='/pause'] button").focus()
            page.keyboard.press("Enter")
            expect(page.locator("[role=status]")).to_contain_text("일시정지")
            expect(card).to_have_attribute("data-state", "paused")
            page.screenshot(path=str(artifacts / "resident-consents.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
