"""Every page, in all six languages, in Debian Chromium: no missing text, no serious accessibility violation.

For each page and language the test checks that the page says which language it is in, that no English
catalog text shows on a non-English page (a missing translation), and that axe-core (from the npm registry,
evaluated in the page) reports no serious or critical WCAG 2.1 A/AA violation. It saves a screenshot of each
under test-artifacts/screenshots/ (the README's pictures come from there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub import i18n
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium, sign_in
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
WEB_DOMAINS = tuple(d for d in i18n.domains() if d != "errors")
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def live_server(sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("every-page") / "server.log"
    with running_hub(log, {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}) as base:
        yield base


def _untranslated(lang: str) -> list[str]:
    """English catalog texts that must not show on a page in ``lang`` (except those kept as is on purpose)."""
    english = {text for domain in WEB_DOMAINS for text in i18n.catalog("en", domain).values()}
    # A translation may quote an English word on purpose (e.g. "공유(Gongyu)"): not missing text.
    local = "\n".join(text for domain in WEB_DOMAINS for text in i18n.catalog(lang, domain).values())
    return sorted((text for text in english if len(text) >= 4 and text not in local), key=len, reverse=True)


def _bank_token(base: str) -> str:
    response = httpx.post(
        f"{base}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _prepare(base: str, backend: Backend) -> dict[str, str]:
    """A pending consent request for resident2 and some history, so every page has real content."""
    token = _bank_token(base)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        body = lookup_body(backend.residents[2]["resident_number"])
        httpx.post(f"{base}/v1/lookups", headers=headers, json=body).raise_for_status()
    created = httpx.post(
        f"{base}/v1/consent-requests",
        headers=headers,
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": "주택담보대출 심사"},
            "redirect_uri": "https://bank.test/callback",
        },
    )
    created.raise_for_status()
    time.sleep(1.2)  # the integrator checkpoints within a second
    return {"consent": f"/consent/{created.json()['request_id']}"}


def _with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


def _check_page(page: Any, base: str, name: str, path: str, lang: str, problems: list[str]) -> None:
    response = page.goto(f"{base}{_with_lang(path, lang)}")
    assert response is not None
    if response.status >= 400:
        problems.append(f"{name}/{lang}: HTTP {response.status}")
        return
    page.wait_for_load_state("networkidle")
    if page.get_attribute("html", "lang") != lang:
        problems.append(f"{name}/{lang}: <html lang> is {page.get_attribute('html', 'lang')}")
    if lang != "en":
        # Names people gave themselves (the signed-in account's display name) are data, not page text.
        visible = page.evaluate(
            "() => { const b = document.body.cloneNode(true);"
            " b.querySelectorAll('[data-user]').forEach((e) => e.remove()); return b.textContent; }"
        )
        leaked = [text for text in _untranslated(lang) if text in visible]
        if leaked:
            problems.append(f"{name}/{lang}: English text shown: {leaked[:3]}")
    for violation in axe_violations(page):
        problems.append(f"{name}/{lang}: axe {violation['impact']} {violation['id']}: {violation['nodes']}")
    page.screenshot(path=str(artifacts() / f"{name}-{lang}.png"), full_page=True)


def test_every_page_in_six_languages_is_complete_and_accessible(
    live_server: str, sqlite_backend: Backend
) -> None:
    from playwright.sync_api import sync_playwright

    urls = _prepare(live_server, sqlite_backend)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            public = browser.new_context(viewport=PHONE).new_page()
            resident = browser.new_context(viewport=PHONE).new_page()
            sign_in(resident, live_server, "resident2", "resident2-pw", "/me")
            official = browser.new_context(viewport=DESK).new_page()
            sign_in(official, live_server, "official", "official-pw", "/counter")
            official.check("input[value='resident_registration_copy:basic']")
            official.click("button.primary")
            official.wait_for_selector("img.qr")
            session_path = official.url.removeprefix(live_server)
            auditor = browser.new_context(viewport=DESK).new_page()
            sign_in(auditor, live_server, "auditor", "auditor-pw", "/")
            pages: list[tuple[Any, str, str]] = [
                (public, "home", "/"),
                (public, "login", "/login"),
                (public, "verify", "/verify"),
                (resident, "resident-home", "/me"),
                (resident, "resident-consent-request", urls["consent"]),
                (resident, "resident-consents", "/me/consents"),
                (resident, "resident-history", "/me/history"),
                (resident, "resident-documents", "/me/documents"),
                (resident, "resident-notice-preferences", "/me/notices/preferences"),
                (official, "counter", "/counter"),
                (official, "counter-session", session_path),
                (official, "staff-notices", "/staff/notices"),
                (auditor, "auditor-console", "/audit"),
                (auditor, "auditor-events", "/audit/events"),
                (auditor, "auditor-export", "/audit/export"),
                (auditor, "auditor-anomalies", "/audit/anomalies"),
            ]
            for page, name, path in pages:
                for lang in i18n.SUPPORTED:
                    _check_page(page, live_server, name, path, lang, problems)
            # The checker itself can fail: an image without a text alternative is a critical violation.
            public.evaluate("() => document.querySelector('main').append(document.createElement('img'))")
            assert any(v["id"] == "image-alt" for v in axe_violations(public))
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)

