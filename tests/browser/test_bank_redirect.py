"""The bank's redirect approval in Debian Chromium, done with the keyboard alone.

A bank creates a consent request; the resident opens its link on a phone-sized screen, signs in, reads the
preview and approves using only Tab, typing and Enter; the browser lands on the bank's registered redirect URI
with the consent id and the bank's state (the bank's site itself is not reachable from the test machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.browser.support import CHROMIUM_FLAGS, artifacts, chromium
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    env = {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    with running_hub(tmp_path / "server.log", env) as base:
        yield base


def _focused(page: object) -> str:
    script = "() => document.activeElement ? document.activeElement.cloneNode(false).outerHTML : ''"
    return str(page.evaluate(script))  # type: ignore[attr-defined]


def _tab_to(page: object, marker: str, limit: int = 40) -> None:
    """Press Tab until the focused element's HTML contains ``marker`` (the way a keyboard user gets there)."""
    for _ in range(limit):
        if marker in _focused(page):  # already there (the sign-in page autofocuses the user name)
            return
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
    raise AssertionError(f"{marker!r} cannot be reached with Tab")


def test_bank_redirect_approval_with_the_keyboard_alone(live_server: str, sqlite_backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    token = httpx.post(
        f"{live_server}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    created = httpx.post(
        f"{live_server}/v1/consent-requests",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": "전세자금대출 심사"},
            "redirect_uri": "https://bank.test/callback",
            "state": "kb-7",
        },
    )
    created.raise_for_status()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844})
            page = context.new_page()
            page.goto(created.json()["approve_url"])
            _tab_to(page, 'id="username"')
            page.keyboard.type("resident0")
            _tab_to(page, 'id="password"')
            page.keyboard.type("resident0-pw")
            page.keyboard.press("Enter")
            expect(page.locator("main")).to_contain_text(sqlite_backend.residents[0]["name_ko"])
            expect(page.locator("main")).to_contain_text("전세자금대출 심사")
            page.screenshot(path=str(artifacts() / "bank-consent-phone.png"), full_page=True)
            _tab_to(page, 'value="approve"')
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline == "solid", "the focused button shows where the keyboard is"
            # The bank's site is not reachable here: what counts is the request the redirect makes.
            with page.expect_request("https://bank.test/**") as to_bank:
                page.keyboard.press("Enter")
            query = parse_qs(urlparse(to_bank.value.url).query)
            assert query["state"] == ["kb-7"] and query["consent_id"][0]
        finally:
            browser.close()
