"""The front page (signed out, and signed in with unread notices), the resident's inbox (``/me``) and the
public notice check (form, a genuine code, an unknown one) in Debian Chromium, in all six languages: each in
its language, axe-core clean (no serious or critical WCAG 2.1 A/AA violation), no console error.

A real ``gongyu serve`` with its in-process delivery loop: the bank's lookups over HTTP become notices the
worker delivers, and the code the inbox shows is the one the check page confirms.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from markupsafe import escape

from hub import i18n
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium, sign_in
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live_server(sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("inbox-home") / "server.log"
    env = {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir), "GONGYU_NOTIFY_INTERVAL_SECONDS": "0.2"}
    with running_hub(log, env) as base:
        yield base


def _unread_notices(base: str, backend: Backend) -> list[dict[str, Any]]:
    """Two bank lookups of resident2's records; their notices once the worker delivered them."""
    bank = httpx.post(
        f"{base}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    for _ in range(2):
        body = lookup_body(backend.residents[2]["resident_number"])
        httpx.post(
            f"{base}/v1/lookups", headers={"Authorization": f"Bearer {bank}"}, json=body
        ).raise_for_status()
    resident = httpx.post(
        f"{base}/v1/auth/login", json={"username": "resident2", "password": "resident2-pw"}
    ).json()["access_token"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{base}/v1/me/notifications",
            params={"unread_only": "true"},
            headers={"Authorization": f"Bearer {resident}"},
        ).json()
        if found["unread"] >= 2:
            return list(found["items"])
        time.sleep(0.2)
    raise AssertionError("the lookups' notices were not delivered within 10 s")


class Checked:
    """One browser page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: Any) -> None:
        # The browser's own favicon request is no error of the page (the hub serves no icon).
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"{message.text} ({message.location.get('url')})")

    def visit(self, base: str, name: str, path: str, lang: str, problems: list[str]) -> str:
        separator = "&" if "?" in path else "?"
        response = self.page.goto(f"{base}{path}{separator}lang={lang}")
        assert response is not None
        if response.status >= 400:
            problems.append(f"{name}/{lang}: HTTP {response.status}")
        return self.check(name, lang, problems)

    def check(self, name: str, lang: str, problems: list[str]) -> str:
        """The page as it is now: its language, axe-core, the console; a screenshot; its HTML."""
        self.page.wait_for_load_state("networkidle")
        if self.page.get_attribute("html", "lang") != lang:
            problems.append(f"{name}/{lang}: <html lang> is {self.page.get_attribute('html', 'lang')}")
        for violation in axe_violations(self.page):
            problems.append(
                f"{name}/{lang}: axe {violation['impact']} {violation['id']}: {violation['nodes']}"
            )
        if self.errors:
            problems.append(f"{name}/{lang}: console errors {self.errors}")
            self.errors.clear()
        self.page.screenshot(path=str(artifacts() / f"{name}-{lang}.png"), full_page=True)
        return str(self.page.content())


def text(lang: str, domain: str, key: str) -> str:
    return str(escape(i18n.gettext(lang, domain, key)))


def test_front_page_inbox_and_notice_check_in_six_languages(
    live_server: str, sqlite_backend: Backend
) -> None:
    from playwright.sync_api import sync_playwright

    notices = _unread_notices(live_server, sqlite_backend)
    code = notices[0]["code"]
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            public = Checked(browser.new_context(viewport=PHONE).new_page())
            resident = Checked(browser.new_context(viewport=PHONE).new_page())
            sign_in(resident.page, live_server, "resident2", "resident2-pw", "/")
            for lang in i18n.SUPPORTED:
                html = public.visit(live_server, "home-signed-out", "/", lang, problems)
                assert text(lang, "home", "home.title") in html and "data-notice=" not in html

                html = resident.visit(live_server, "home-signed-in", "/", lang, problems)
                assert code in html, f"{lang}: the front page does not show my newest unread notice"
                assert text(lang, "notify", "notify.inbox") in html

                html = resident.visit(live_server, "resident-inbox", "/me", lang, problems)
                assert all(n["code"] in html for n in notices[:2]), f"{lang}: the inbox misses a notice"

                # The check page with an unknown code (the form is on it too), then a genuine code typed in.
                unknown = "/notices/verify?code=0000-0000-0000"
                html = public.visit(live_server, "notice-unknown", unknown, lang, problems)
                assert text(lang, "notices", "notices.unknown.headline") in html
                public.page.fill("#code", code.lower())
                public.page.click("#notice-form button[type=submit]")
                public.page.wait_for_selector("#verdict[data-verdict=genuine]")
                html = public.check("notice-genuine", lang, problems)
                assert text(lang, "notices", "notices.genuine.word") in html
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
