"""The auditor console in Debian Chromium: sign in, read the log status, filter the events, prepare an export.

Lookups go through the live server's API first (one refused), and its integrator publishes a checkpoint
within a second. The auditor signs in through the form, sees the signed tree size on the console home,
filters the events to the refusals with the keyboard-reachable form, and gets a table holding only those.
(tests/browser/test_every_page.py checks each console page in all six languages with axe-core.) Screenshots
land in test-artifacts/screenshots/ (auditor-console.png is the filtered events table).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import i18n
from tests.browser.support import CHROMIUM_FLAGS, artifacts, chromium, sign_in
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
DESK = {"width": 1280, "height": 900}


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _lookups(base: str, backend: Backend) -> None:
    token = httpx.post(
        f"{base}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    number = backend.residents[1]["resident_number"]
    for view, status in (("basic", 200), ("basic", 200), ("with_address_history", 403)):
        response = httpx.post(
            f"{base}/v1/lookups",
            headers={"Authorization": f"Bearer {token}"},
            json={**lookup_body(number), "view": view},
        )
        assert response.status_code == status, response.text
    time.sleep(1.5)  # the integrator checkpoints at least every second


def test_auditor_signs_in_filters_events_and_prepares_an_export(
    live_server: str, sqlite_backend: Backend
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _lookups(live_server, sqlite_backend)
    shots = artifacts()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(locale="en-US", viewport=DESK).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server}/audit?lang=en")
            assert "/login" in page.url  # not signed in: to the sign-in page, and back afterwards
            page.fill("#username", "auditor")
            page.fill("#password", "auditor-pw")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Audit console")
            size = int(page.locator(".audit-status").get_attribute("data-tree-size") or "0")
            assert size >= 3
            expect(page.locator("#tree-size")).to_have_text(f"{size:,}")
            page.screenshot(path=str(shots / "auditor-console-home.png"), full_page=True)

            page.click("a[href='/audit/events']")
            expect(page.locator("h1")).to_have_text("Audit events")
            assert page.locator("#events tbody tr.event").count() >= 3
            page.select_option("#f-outcome", "denied")
            page.fill("#f-org", "Test Bank")
            page.focus("form.audit-filters button[type=submit]")  # keyboard: Enter on the button
            page.keyboard.press("Enter")
            page.wait_for_url("**/audit/events?**outcome=denied**")
            rows = page.locator("#events tbody tr.event")
            count = rows.count()
            assert count >= 1
            for i in range(count):
                assert rows.nth(i).get_attribute("data-outcome") == "denied"
                assert rows.nth(i).get_attribute("data-org") == "Test Bank"
            expect(page.locator("#events caption")).to_contain_text("(filtered)")
            expect(rows.first.locator("td").nth(7)).to_contain_text("Denied")
            page.screenshot(path=str(shots / "auditor-console.png"), full_page=True)

            page.check("#fmt-jsonl")
            page.click("form.export-form button[type=submit]")
            expect(page.locator("h1")).to_have_text("Export ready")
            href = page.locator("#download-body").get_attribute("href") or ""
            assert href.startswith("/audit/export.jsonl?") and "org=Test+Bank" in href
            assert "outcome" not in href  # an export carries every outcome (the page says so)
            page.screenshot(path=str(shots / "auditor-console-export.png"), full_page=True)

            assert not errors, errors
        finally:
            browser.close()


def test_sign_in_helper_lands_a_resident_on_a_403_page(live_server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(locale="ko-KR", viewport=DESK).new_page()
            sign_in(page, live_server, "resident0", "resident0-pw", "/audit")
            expect(page.locator("h1")).to_have_text(i18n.gettext("ko", "auditor", "audit.forbidden_title"))
        finally:
            browser.close()
