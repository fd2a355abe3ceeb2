"""The auditor console in Debian Chromium: sign in, read the log status, filter the events, prepare an export.

Lookups go through the live server's API first (one refused), and its integrator publishes a checkpoint
within a second. The auditor signs in through the form, sees the signed tree size on the console home,
filters the events to the refusals with the keyboard-reachable form, and gets a table holding only those.
Each console page is then checked in all six languages: page language, no English catalog text left on a
non-English page, and no serious axe-core (WCAG 2.1 A/AA) violation. Screenshots land in
test-artifacts/screenshots/ (auditor-console.png is the filtered events table).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import i18n
from tests.browser.support import AXE, CHROMIUM_FLAGS, artifacts, axe_violations, chromium, sign_in
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
DESK = {"width": 1280, "height": 900}
WEB_DOMAINS = tuple(d for d in i18n.domains() if d != "errors")


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


def _english_left(lang: str, visible: str) -> list[str]:
    """English catalog texts on a page in ``lang`` (the main content: the header shows account names)."""
    english = {text for domain in WEB_DOMAINS for text in i18n.catalog("en", domain).values()}
    local = "\n".join(text for domain in WEB_DOMAINS for text in i18n.catalog(lang, domain).values())
    return [text for text in english if len(text) >= 4 and text not in local and text in visible]


def test_auditor_signs_in_filters_events_and_every_console_page_is_accessible(
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

            problems: list[str] = []
            for name, path in (
                ("home", "/audit"),
                ("events", "/audit/events?outcome=denied"),
                ("export", "/audit/export?format=csv"),
                ("anomalies", "/audit/anomalies?denial_burst.denials=1"),
            ):
                for lang in i18n.SUPPORTED:
                    response = page.goto(f"{live_server}{path}{'&' if '?' in path else '?'}lang={lang}")
                    assert response is not None and response.status == 200, (name, lang)
                    if page.get_attribute("html", "lang") != lang:
                        problems.append(f"{name}/{lang}: <html lang> is {page.get_attribute('html', 'lang')}")
                    if lang != "en" and (left := _english_left(lang, page.inner_text("main"))):
                        problems.append(f"{name}/{lang}: English text shown: {left[:3]}")
                    if AXE.exists():
                        for v in axe_violations(page):
                            problems.append(f"{name}/{lang}: axe {v['impact']} {v['id']}: {v['nodes']}")
                    page.screenshot(path=str(shots / f"auditor-{name}-{lang}.png"), full_page=True)
            assert problems == [], "\n".join(problems)
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
