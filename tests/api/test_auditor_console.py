"""The auditor console driven like a browser would: status, filtered events, exports, anomalies, languages."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text

from hub import i18n
from hub.app import create_app
from hub.state import HubState
from tests.conftest import Backend, audit_rows, bearer, lookup_body
from tests.helpers.pages import sign_in

pytestmark = pytest.mark.anyio
ROW = re.compile(r'<tr class="event"(.*?)>', re.S)
ANOMALY = re.compile(r'<tr class="anomaly"(.*?)>', re.S)
ATTR = re.compile(r'data-([a-z-]+)="([^"]*)"')
HREF = re.compile(r'id="(download-body|download-manifest)" href="([^"]+)"')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
PAGES = ("/audit", "/audit/events", "/audit/export?format=csv", "/audit/anomalies")
ABSTRACT = "resident_registration_abstract"


@pytest.fixture
async def browser(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


async def _auditor(browser: httpx.AsyncClient) -> None:
    assert (await sign_in(browser, "auditor", "auditor-pw", "/audit")).status_code == 303


def _rows(page: str, pattern: re.Pattern[str] = ROW) -> list[dict[str, str]]:
    return [{k: html.unescape(v) for k, v in ATTR.findall(m.group(1))} for m in pattern.finditer(page)]


async def _lookup(browser: httpx.AsyncClient, state: HubState, number: str, **kwargs: str) -> int:
    client = kwargs.pop("client", "test-bank")
    body = lookup_body(number, **kwargs)
    response = await browser.post("/v1/lookups", json=body, headers=bearer(state, client))
    return response.status_code


def _account_id(backend: Backend, username: str) -> str:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        found = conn.execute(text("SELECT account_id FROM accounts WHERE username = :u"), {"u": username})
        account_id = str(found.scalar_one())
    engine.dispose()
    return account_id


def _today_kst() -> str:
    return datetime.now(i18n.KST).date().isoformat()


async def test_only_auditors_reach_the_console(browser: httpx.AsyncClient, backend: Backend) -> None:
    paths = [*PAGES, "/audit/export.csv", "/audit/export.jsonl?kind=lookup", "/audit/export/manifest"]
    for path in paths:
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=%2Faudit"), path
    exports_before = sum(1 for r in audit_rows(backend) if r["kind"] == "export")
    for username in ("resident0", "official"):
        browser.cookies.clear()
        assert (await sign_in(browser, username, f"{username}-pw", "/audit")).status_code == 303
        for path in paths:
            refused = await browser.get(path, params={"lang": "en"})
            assert refused.status_code == 403, (username, path)
            assert "Auditors only" in refused.text and "Content-Security-Policy" in refused.headers
    assert sum(1 for r in audit_rows(backend) if r["kind"] == "export") == exports_before


async def test_home_shows_the_latest_checkpoint_and_the_integrator_lag(
    browser: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    for resident in backend.residents[:3]:
        assert await _lookup(browser, hub_state, resident["resident_number"]) == 200
    await hub_state.integrator.integrate_once()
    assert await _lookup(browser, hub_state, backend.residents[3]["resident_number"]) == 200  # pending
    checkpoint = await hub_state.audit_reader.latest_checkpoint()
    assert checkpoint is not None and checkpoint.tree_size >= 3

    await _auditor(browser)
    page = await browser.get("/audit", params={"lang": "en"})
    assert page.status_code == 200, page.text
    assert f'data-tree-size="{checkpoint.tree_size}"' in page.text
    assert f'<dd class="number" id="tree-size">{checkpoint.tree_size:,}</dd>' in page.text
    assert html.escape(checkpoint.note) in page.text
    status = await hub_state.audit_reader.log_status(datetime.now(UTC))
    assert status.pending >= 1 and f'data-pending="{status.pending}"' in page.text
    assert "Some committed events are not in the latest checkpoint yet." in page.text
    assert re.search(r'id="lag">[\d.,]+ s<', page.text)
    for link in ("/audit/events", "/audit/anomalies", "/v1/audit/checkpoint"):
        assert f'href="{link}"' in page.text

    await hub_state.integrator.integrate_once()
    caught_up = await browser.get("/audit", params={"lang": "en"})
    assert 'data-pending="0"' in caught_up.text and "Every committed event is in" in caught_up.text


async def test_filters_narrow_the_events_and_pages_follow_the_cursor(
    browser: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    numbers = [r["resident_number"] for r in backend.residents]
    assert await _lookup(browser, hub_state, numbers[0]) == 200
    assert await _lookup(browser, hub_state, numbers[1], view="with_address_history") == 403  # denied
    agency = await _lookup(browser, hub_state, numbers[2], client="test-agency", statute="KR-RRA-29-2-1")
    assert agency == 200
    ours = {str(r["event_id"]): r for r in audit_rows(backend)[-3:]}
    denied_id = next(i for i, r in ours.items() if r["outcome"] == "denied")
    agency_id = next(i for i, r in ours.items() if r["actor_org"] == "Test Office")

    await _auditor(browser)
    everything = _rows((await browser.get("/audit/events")).text)
    assert set(ours) <= {r["event-id"] for r in everything}
    # Newest first: this test's three events, written one after the other, are listed in reverse order. (The
    # whole page's times need not be monotonic: other tests seed events with back-dated times.)
    listed = [r["event-id"] for r in everything if r["event-id"] in ours]
    assert listed == list(ours)[::-1]  # ``ours`` holds them in the log's order

    today = _today_kst()
    page = await browser.get(
        "/audit/events",
        params={"org": "Test Bank", "outcome": "denied", "kind": "lookup", "from": today, "to": today},
    )
    assert page.status_code == 200
    denied = _rows(page.text)
    assert denied and denied_id in {r["event-id"] for r in denied}
    assert {(r["org"], r["outcome"], r["kind"]) for r in denied} == {("Test Bank", "denied", "lookup")}
    assert agency_id not in {r["event-id"] for r in denied}

    office = _rows((await browser.get("/audit/events", params={"org": "Test Office"})).text)
    assert agency_id in {r["event-id"] for r in office} and {r["org"] for r in office} == {"Test Office"}
    abstract = _rows((await browser.get("/audit/events", params={"document_type": ABSTRACT})).text)
    assert abstract and {r["document-type"] for r in abstract} == {ABSTRACT}
    yesterday = (datetime.now(i18n.KST).date() - timedelta(days=1)).isoformat()
    none = await browser.get("/audit/events", params={"to": yesterday, "lang": "en"})
    assert _rows(none.text) == [] and "No events match these filters." in none.text

    for odd in ("0001-01-01", "9999-12-31", "2026-02-30", "yesterday"):  # ignored, never a 500
        for path in ("/audit/events", "/audit/anomalies", "/audit/export"):
            response = await browser.get(path, params={"from": odd, "to": odd})
            assert response.status_code in (200, 503), (path, odd)

    for resident in backend.residents:  # commitments and actor ids only, never a resident number
        assert resident["resident_number"] not in page.text
        assert resident["resident_number"].replace("-", "") not in page.text

    # 50 a page, newest first; the cursor link gives the next older page, disjoint from the first.
    for _ in range(51 - len(everything)):
        assert await _lookup(browser, hub_state, numbers[0], view="with_address_history") == 403
    first = await browser.get("/audit/events")
    first_rows = _rows(first.text)
    assert len(first_rows) == 50
    link = NEXT.search(first.text)
    assert link, "no link to older events"
    second = _rows((await browser.get(html.unescape(link.group(1)))).text)
    assert second and not {r["event-id"] for r in first_rows} & {r["event-id"] for r in second}
    assert max(r["occurred-at"] for r in second) <= min(r["occurred-at"] for r in first_rows)
    broken = await browser.get("/audit/events", params={"cursor": "???"})
    assert broken.status_code == 200 and len(_rows(broken.text)) == 50


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_export_through_the_pages_matches_its_manifest_and_is_audited(
    browser: httpx.AsyncClient, hub_state: HubState, backend: Backend, fmt: str
) -> None:
    for resident in backend.residents[:2]:
        assert await _lookup(browser, hub_state, resident["resident_number"]) == 200
    assert await _lookup(browser, hub_state, backend.residents[2]["resident_number"], client="test-agency",
                         statute="KR-RRA-29-2-1") == 200  # fmt: skip
    await hub_state.integrator.integrate_once()
    await _auditor(browser)

    filters = {"org": "Test Bank", "kind": "lookup", "document_type": ABSTRACT}
    events_page = await browser.get("/audit/events", params={**filters, "outcome": "ok"})
    assert 'action="/audit/export"' in events_page.text
    assert 'name="outcome"' in events_page.text  # the list's filter, not the export's:
    assert 'type="hidden" name="outcome"' not in events_page.text
    ready = await browser.get("/audit/export", params={"format": fmt, **filters, "lang": "en"})
    assert ready.status_code == 200, ready.text
    links = {name: html.unescape(href) for name, href in HREF.findall(ready.text)}
    assert links["download-body"].startswith(f"/audit/export.{fmt}?")
    exports_before = [r for r in audit_rows(backend) if r["kind"] == "export"]

    body = await browser.get(links["download-body"])
    assert body.status_code == 200, body.text
    assert "attachment" in body.headers["content-disposition"]
    size = int(body.headers["x-gongyu-tree-size"])
    assert f"tree_size={size}" in links["download-body"] and f"tree_size={size}" in links["download-manifest"]
    manifest_file = await browser.get(links["download-manifest"])
    assert manifest_file.status_code == 200 and "attachment" in manifest_file.headers["content-disposition"]
    signed = json.loads(manifest_file.content)
    manifest = signed["manifest"]
    assert manifest["sha256"] == hashlib.sha256(body.content).hexdigest()
    assert manifest["size_bytes"] == len(body.content) and manifest["tree_size"] == size
    assert manifest["format"] == fmt and signed["jws"].count(".") == 2
    assert {k: manifest["filter"][k] for k in filters} == filters

    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(body.text)))
    else:
        records = [json.loads(line) for line in body.text.splitlines()]
    assert manifest["rows"] == len(records) >= 2
    orgs = {r.get("actor_org") for r in records}
    assert orgs == {"Test Bank"}
    assert {r["kind"] for r in records} == {"lookup"} and {r["document_type"] for r in records} == {ABSTRACT}
    expected = {
        str(r["event_id"])
        for r in audit_rows(backend)
        if r["actor_org"] == "Test Bank"
        and r["kind"] == "lookup"
        and r["document_type"] == ABSTRACT
        and r["leaf_index"] is not None
        and int(str(r["leaf_index"])) < size
    }
    assert {r["event_id"] for r in records} == expected

    # Exactly one export event for the download (the manifest is not an access), in the auditor's name.
    exports = [r for r in audit_rows(backend) if r["kind"] == "export"]
    assert len(exports) == len(exports_before) + 1
    recorded = exports[-1]
    assert recorded["actor_kind"] == "auditor" and recorded["actor_org"] == "Audit office"
    assert recorded["actor_id"] == _account_id(backend, "auditor")
    described = json.loads(str(recorded["purpose_text"]))
    assert described["format"] == fmt and described["tree_size"] == size
    assert {k: described[k] for k in filters} == filters

    # ... and the console lists it under the kind "export".
    listed = _rows((await browser.get("/audit/events", params={"kind": "export"})).text)
    assert listed[0]["event-id"] == recorded["event_id"]


async def test_export_dates_are_korean_days(
    browser: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    assert await _lookup(browser, hub_state, backend.residents[0]["resident_number"]) == 200
    await hub_state.integrator.integrate_once()
    await _auditor(browser)
    today = _today_kst()
    ready = await browser.get("/audit/export", params={"format": "jsonl", "from": today, "to": today})
    links = {name: html.unescape(href) for name, href in HREF.findall(ready.text)}
    signed = json.loads((await browser.get(links["download-manifest"])).content)
    start = datetime.fromisoformat(today).replace(tzinfo=i18n.KST).astimezone(UTC)
    assert signed["manifest"]["filter"]["since"] == start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    end = start + timedelta(days=1)
    assert signed["manifest"]["filter"]["until"] == end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = await browser.get(links["download-body"])
    times = [json.loads(line)["occurred_at"] for line in body.text.splitlines()]
    assert times and all(start <= datetime.fromisoformat(t.replace("Z", "+00:00")) < end for t in times)
    beyond = await browser.get("/audit/export.csv", params={"tree_size": 10**9, "lang": "en"})
    assert beyond.status_code == 400 and "<html" in beyond.text


async def test_anomalies_page_lists_a_triggered_rule_with_its_window_and_counts(
    browser: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    for resident in backend.residents:  # five distinct residents within a minute
        assert await _lookup(browser, hub_state, resident["resident_number"]) == 200
    await _auditor(browser)
    page = await browser.get(
        "/audit/anomalies", params={"many_subjects.distinct_subjects": "5", "lang": "en"}
    )
    assert page.status_code == 200, page.text
    flagged = [r for r in _rows(page.text, ANOMALY) if r["rule"] == "many_subjects"]
    assert any(r["actor-id"] == "test-bank" and int(r["count"]) >= 5 for r in flagged), flagged
    assert "Many residents in a short time" in page.text
    assert re.search(r"\d+ distinct residents within 10 min", page.text)
    assert 'name="many_subjects.distinct_subjects"' in page.text and 'value="5"' in page.text
    assert "(changed from the default 50)" in page.text
    for rule in ("many_subjects", "off_hours", "denial_burst", "statutory_rate"):
        assert f'id="rule-{rule}"' in page.text  # every rule explained
    assert "<caption" in page.text and 'scope="col"' in page.text

    korean = await browser.get(
        "/audit/anomalies", params={"many_subjects.distinct_subjects": "5", "lang": "ko"}
    )
    assert re.search(r"10분 안에 서로 다른 주민 \d+명", korean.text)
    bad = await browser.get("/audit/anomalies", params={"denial_burst.denials": "many", "lang": "en"})
    assert bad.status_code == 400 and "must be a number" in bad.text
    wide = await browser.get("/audit/anomalies", params={"from": "2026-01-01", "to": "2026-03-01"})
    assert wide.status_code == 400


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
async def test_every_console_page_renders_in_every_language(
    browser: httpx.AsyncClient, hub_state: HubState, lang: str
) -> None:
    await hub_state.integrator.integrate_once()  # the export page needs a checkpoint
    await _auditor(browser)
    title = i18n.gettext(lang, "auditor", "audit.title")
    for path in PAGES:
        page = await browser.get(path, params={"lang": lang})
        assert page.status_code == 200, (lang, path, page.text[:500])
        assert f'<html lang="{lang}">' in page.text and page.headers["content-language"] == lang
        assert title in page.text, (lang, path)
        assert "style=" not in page.text and not re.search(r"<script(?![^>]*\bsrc=)", page.text)
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        for label in re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page.text):
            assert f'for="{label}"' in page.text, (path, label)
