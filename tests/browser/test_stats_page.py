"""The open statistics page (``/stats``) in Debian Chromium: charts beside tables, six languages, axe-clean.

A past day gets lookups from a few organisations (one cell suppressed), so the page draws every chart; each
language is checked for its ``<html lang>``, a table beside each of the five charts and no serious or
critical axe-core violation. Screenshots land in test-artifacts/screenshots/stats-<lang>.png.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from audit.events import AuditEvent
from audit.stats import DAY_ZONE
from hub import i18n
from hub.state import build_state
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow


async def _seed(backend: Backend) -> date:
    state = build_state(backend.settings)
    day = datetime.now(DAY_ZONE).date() - timedelta(days=16)
    moment = datetime.combine(day, time(11), DAY_ZONE).astimezone(UTC)
    try:
        for org, count, outcome, basis in (
            ("브라우저은행 본점", 24, "ok", "consent:00000000-0000-0000-0000-000000000000"),
            ("브라우저구청", 12, "ok", "statute:KR-RRA-29-2-1"),
            ("브라우저구청", 3, "denied", "statute:KR-RRA-29-2-1"),
        ):
            for _ in range(count):
                event = AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id="stats-browser",
                    outcome=outcome,  # type: ignore[arg-type]
                    actor_org=org,
                    document_type="resident_registration_copy",
                    basis=basis,
                    occurred_at=moment,
                )
                await state.audit.append(event)
        while (await state.integrator.integrate_once()).integrated:
            pass
        await state.stats.refresh(since=day, until=day, recount=True)
    finally:
        await state.close()
    return day


@pytest.fixture(scope="module")
def live_stats(
    sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, date]]:
    day = asyncio.run(_seed(sqlite_backend))
    log = tmp_path_factory.mktemp("stats-page") / "server.log"
    with running_hub(log, {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}) as base:
        yield base, day


def test_the_stats_page_is_accessible_in_six_languages(live_stats: tuple[str, date]) -> None:
    from playwright.sync_api import sync_playwright

    base, day = live_stats
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            for lang in i18n.SUPPORTED:
                response = page.goto(f"{base}/stats?from={day.isoformat()}&to={day.isoformat()}&lang={lang}")
                assert response is not None and response.status == 200
                if page.get_attribute("html", "lang") != lang:
                    problems.append(f"{lang}: <html lang> is {page.get_attribute('html', 'lang')}")
                if page.locator("section[data-chart] svg[role=img]").count() != 5:
                    problems.append(f"{lang}: not five charts")
                if page.locator("section[data-chart] table").count() != 5:
                    problems.append(f"{lang}: not a table beside every chart")
                if "브라우저은행 본점" not in page.locator("#stats-organisation").inner_text():
                    problems.append(f"{lang}: the organisation's row is missing")
                for violation in axe_violations(page):
                    problems.append(
                        f"{lang}: axe {violation['impact']} {violation['id']}: {violation['nodes']}"
                    )
                page.screenshot(path=str(artifacts() / f"stats-{lang}.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
