"""Disputes and the department dashboard in Debian Chromium.

A resident disputes an entry from the history page (the entry's "dispute" link, the form, My disputes);
the bank's privacy officer escalates it from their queue, an auditor acknowledges the error from the console's
disputes page, and the resident reads the answer. Then every new page, in all six languages, must say which
language it is in, show no English catalog text on a non-English page, and pass axe-core with no serious or
critical WCAG 2.1 A/AA violation. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from hub import i18n
from hub.applications import repository
from hub.auth.accounts import create_account
from hub.auth.models import AccountRow
from hub.db import session_factory
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium, sign_in
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
WEB_DOMAINS = tuple(d for d in i18n.domains() if d != "errors")


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _accounts(backend: Backend) -> None:
    """Test Bank's privacy officer, and an official placed in the welfare department (once per database)."""

    async def create() -> None:
        engine = create_async_engine(backend.settings.effective_database_url)
        async with session_factory(engine)() as session, session.begin():
            for username, role, org in (
                ("privacy-bank", "privacy_officer", "Test Bank"),
                ("dash-welfare", "official", "Welfare office"),
            ):
                found = await session.execute(select(AccountRow).where(AccountRow.username == username))
                row = found.scalar_one_or_none()
                if row is None:
                    row = await create_account(
                        session,
                        username=username,
                        password=f"{username}-pw",
                        role=role,
                        display_name=username,
                        org=org,
                    )
                if role == "official":
                    await repository.set_department(session, row.account_id, "welfare", datetime.now(UTC))
        await engine.dispose()

    asyncio.run(create())


def _lookups(base: str, backend: Backend, count: int) -> None:
    token = httpx.post(
        f"{base}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    for _ in range(count):
        response = httpx.post(
            f"{base}/v1/lookups",
            headers={"Authorization": f"Bearer {token}"},
            json=lookup_body(backend.residents[2]["resident_number"]),
        )
        assert response.status_code == 200, response.text
    time.sleep(1.5)  # the integrator checkpoints at least every second


def _untranslated(lang: str) -> list[str]:
    english = {text for domain in WEB_DOMAINS for text in i18n.catalog("en", domain).values()}
    local = "\n".join(text for domain in WEB_DOMAINS for text in i18n.catalog(lang, domain).values())
    return sorted((text for text in english if len(text) >= 4 and text not in local), key=len, reverse=True)


def _check(page: Any, base: str, name: str, path: str, lang: str, problems: list[str]) -> None:
    response = page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
    assert response is not None
    if response.status >= 400:
        problems.append(f"{name}/{lang}: HTTP {response.status}")
        return
    if page.get_attribute("html", "lang") != lang:
        problems.append(f"{name}/{lang}: <html lang> is {page.get_attribute('html', 'lang')}")
    if lang != "en":
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


def test_a_dispute_from_the_history_page_is_answered_and_every_new_page_reads_in_six_languages(
    live_server: str, sqlite_backend: Backend
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _accounts(sqlite_backend)
    _lookups(live_server, sqlite_backend, 2)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            resident = browser.new_context(viewport=PHONE, locale="en-US").new_page()
            sign_in(resident, live_server, "resident2", "resident2-pw", "/me/history?lang=en")
            resident.wait_for_url("**/me/history**")
            link = resident.locator("a.dispute-link").first
            expect(link).to_be_visible()
            link.click()
            resident.wait_for_url("**/dispute")
            leaf = resident.url.split("/")[-2]
            resident.fill("#dispute-reason", "I have no account at this bank.")
            resident.click("button.primary")
            resident.wait_for_url("**/me/disputes**")
            card = resident.locator(".card", has_text=f"#{leaf}")
            expect(card.locator(".dispute-status")).to_have_attribute("data-status", "open")

            officer = browser.new_context(viewport=DESK, locale="en-US").new_page()
            sign_in(officer, live_server, "privacy-bank", "privacy-bank-pw", "/disputes?lang=en")
            officer.wait_for_url("**/disputes**")
            mine = officer.locator("li.card", has_text=f"#{leaf}")
            mine.locator("input[value=escalated]").check()
            mine.locator("textarea[name=answer]").fill("Our records show no such request; please audit.")
            mine.locator("button[type=submit]").click()
            officer.wait_for_url("**/disputes#dispute-*")
            expect(
                officer.locator("li.card", has_text=f"#{leaf}").locator(".dispute-status")
            ).to_have_attribute("data-status", "escalated")

            auditor = browser.new_context(viewport=DESK, locale="en-US").new_page()
            sign_in(auditor, live_server, "auditor", "auditor-pw", "/audit?lang=en")
            auditor.wait_for_url("**/audit**")
            auditor.click("a[href='/audit/disputes']")
            case = auditor.locator("li.card", has_text=f"#{leaf}")
            case.locator("input[value=error_acknowledged]").check()
            case.locator("textarea[name=answer]").fill("A lookup without a customer request: acknowledged.")
            case.locator("button[type=submit]").click()
            auditor.wait_for_url("**/audit/disputes#dispute-*")

            resident.goto(f"{live_server}/me/disputes?lang=en")
            answered = resident.locator(".card", has_text=f"#{leaf}")
            expect(answered.locator(".dispute-status")).to_have_attribute("data-status", "error_acknowledged")
            expect(answered.locator(".dispute-answer")).to_contain_text("acknowledged")
            resident.screenshot(path=str(artifacts() / "resident-dispute-answered.png"), full_page=True)

            # The same entry cannot be disputed twice; another entry's form is the one checked below.
            resident.goto(f"{live_server}/me/history?lang=en")
            other = next(
                href
                for href in resident.locator("a.dispute-link").evaluate_all("(ls) => ls.map((l) => l.href)")
                if f"/{leaf}/" not in href
            ).removeprefix(live_server)
            twice = resident.goto(f"{live_server}/me/history/{leaf}/dispute?lang=en")
            assert twice is not None and twice.status == 409

            official = browser.new_context(viewport=DESK).new_page()
            sign_in(official, live_server, "dash-welfare", "dash-welfare-pw", "/dashboard")
            official.wait_for_url("**/departments/welfare/dashboard")

            problems: list[str] = []
            pages = [
                (resident, "resident-history-with-disputes", "/me/history"),
                (resident, "resident-dispute-form", other),
                (resident, "resident-disputes", "/me/disputes"),
                (officer, "privacy-officer-disputes", "/disputes"),
                (auditor, "auditor-disputes", "/audit/disputes"),
                (official, "department-dashboard", "/departments/welfare/dashboard"),
            ]
            for page, name, path in pages:
                for lang in i18n.SUPPORTED:
                    _check(page, live_server, name, path, lang, problems)
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
