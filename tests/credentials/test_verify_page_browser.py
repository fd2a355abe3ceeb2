"""The credential verifier page in real Debian Chromium, six languages, axe-clean: the empty form, a valid
presentation's disclosed fields and a refusal. Screenshots: test-artifacts/screenshots/credentials-*.png.

The credential is issued through the live server's API to a seeded resident (signed in with their password),
and presented by ``hub.credentials.holder`` as a wallet would.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import i18n
from hub.credentials import holder
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow
AUDIENCE = "https://landlord.example"


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _credential(base: str, key: dict[str, str]) -> str:
    login = httpx.post(f"{base}/v1/auth/login", json={"username": "resident0", "password": "resident0-pw"})
    login.raise_for_status()
    response = httpx.post(
        f"{base}/v1/me/credentials",
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        json={
            "document_type": "resident_registration_abstract",
            "view": "with_address_history",
            "holder_jwk": holder.public_jwk(key),
        },
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["credential"])


def test_credential_verify_page_in_six_languages_in_chromium(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    key = holder.keygen()
    credential = _credential(live_server, key)
    shots = artifacts("screenshots")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            for lang in i18n.SUPPORTED:
                page.goto(f"{live_server}/credentials/verify?lang={lang}")
                assert page.get_attribute("html", "lang") == lang
                problems += [f"{lang} form: {v}" for v in axe_violations(page)]
                nonce = secrets.token_urlsafe(12)
                page.fill(
                    "#presentation", holder.present(credential, ["name", "address"], AUDIENCE, nonce, key)
                )
                page.fill("#audience", AUDIENCE)
                page.fill("#nonce", nonce)
                page.click("button[type=submit]")
                assert page.get_attribute("#verdict", "data-status") == "valid", lang
                assert page.locator("#disclosed tr").count() == 2
                problems += [f"{lang} valid: {v}" for v in axe_violations(page)]
                page.screenshot(path=str(shots / f"credentials-valid-{lang}.png"), full_page=True)
                page.fill("#presentation", "not-a-presentation~")
                page.fill("#nonce", nonce)
                page.click("button[type=submit]")
                assert page.get_attribute("#verdict", "data-problem") == "credential-presentation-malformed"
                problems += [f"{lang} refused: {v}" for v in axe_violations(page)]
        finally:
            browser.close()
    assert problems == []
