"""Auditors are on the record when they browse: every events page and anomaly report writes one
``audit_query`` event with its filter, and nothing is shown when that event cannot be written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from hub.app import create_app
from hub.state import HubState
from tests.conftest import Backend, account_bearer
from tests.helpers.audit_faults import audit_refuses, events_of
from tests.helpers.pages import sign_in

pytestmark = pytest.mark.anyio


@pytest.fixture
async def browser(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            assert (await sign_in(client, "auditor", "auditor-pw", "/audit")).status_code == 303
            yield client


def _queries_of(backend: Backend, response: httpx.Response) -> list[dict[str, Any]]:
    """The ``audit_query`` events written by the request that gave ``response``."""
    request_id = response.headers["x-request-id"]
    return [e for e in events_of(backend, "audit_query") if e["request_id"] == request_id]


def _described(event: dict[str, Any]) -> dict[str, Any]:
    assert event["actor_kind"] == "auditor" and event["actor_org"] == "Audit office"
    assert event["outcome"] == "ok" and event["subject_commitment"] is None
    described: dict[str, Any] = json.loads(event["purpose_text"])
    return described


async def test_each_events_page_is_one_audit_event_with_its_filter(
    browser: httpx.AsyncClient, backend: Backend
) -> None:
    page = await browser.get(
        "/audit/events",
        params={"kind": "lookup", "org": "Test Bank", "outcome": "denied", "from": "2026-01-02"},
    )
    assert page.status_code == 200, page.text
    (event,) = _queries_of(backend, page)
    assert event["purpose_code"] == "audit-events"
    described = _described(event)
    assert described["view"] == "events"
    assert described["kind"] == "lookup" and described["org"] == "Test Bank"
    assert described["outcome"] == "denied" and described["since"].startswith("2026-01-01T15:00:00")
    assert described["cursor"] is None

    plain = await browser.get("/audit/events")
    (event,) = _queries_of(backend, plain)
    assert _described(event)["kind"] is None


async def test_each_anomaly_report_is_one_audit_event_with_its_range_and_overrides(
    browser: httpx.AsyncClient, api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    page = await browser.get(
        "/audit/anomalies", params={"from": "2026-01-02", "to": "2026-01-03", "denial_burst.denials": "4"}
    )
    assert page.status_code == 200, page.text
    (event,) = _queries_of(backend, page)
    described = _described(event)
    assert event["purpose_code"] == "audit-anomalies" and described["view"] == "anomalies"
    assert described["overrides"] == {"denial_burst": {"denials": 4.0}}
    assert described["since"].startswith("2026-01-01T15:00:00")

    auditor = account_bearer(hub_state, "auditor")
    answer = await api.get("/v1/audit/anomalies", params={"off_hours.office_start_hour": 8}, headers=auditor)
    assert answer.status_code == 200, answer.text
    (event,) = _queries_of(backend, answer)
    assert _described(event)["overrides"] == {"off_hours": {"office_start_hour": 8.0}}

    # A refused query (bad range) reads nothing and so records nothing.
    refused = await api.get(
        "/v1/audit/anomalies",
        params={"from": "2026-01-03T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=auditor,
    )
    assert refused.status_code == 400
    assert _queries_of(backend, refused) == []


async def test_a_resident_number_typed_into_a_filter_does_not_reach_the_log(
    browser: httpx.AsyncClient, backend: Backend
) -> None:
    page = await browser.get("/audit/events", params={"org": "900101-1234567"})
    assert page.status_code == 200
    (event,) = _queries_of(backend, page)
    assert "1234567" not in event["purpose_text"]
    assert _described(event)["org"] == "[resident-number]"


async def test_a_query_that_cannot_be_recorded_shows_nothing(
    browser: httpx.AsyncClient, api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    auditor = account_bearer(hub_state, "auditor")
    before = len(events_of(backend, "audit_query"))
    with audit_refuses(hub_state, "audit_query"):
        events = await browser.get("/audit/events", params={"lang": "en"})
        report = await browser.get("/audit/anomalies", params={"lang": "en"})
        answer = await api.get("/v1/audit/anomalies", headers=auditor)
    for page in (events, report):
        assert page.status_code == 503
        assert 'class="event"' not in page.text and 'class="anomaly"' not in page.text
        assert "could not be recorded" in page.text
    assert answer.status_code == 503
    assert answer.json()["type"] == "/problems/audit-unavailable"
    assert "anomalies" not in answer.json()
    assert len(events_of(backend, "audit_query")) == before
