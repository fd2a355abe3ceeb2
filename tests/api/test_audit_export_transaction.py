"""An export and its audit event share the request's transaction: no body leaves unless the event committed.

The export is an access like a lookup, so it fails closed: if its event cannot be written (the INSERT or the
request's commit fails) the answer is 503 ``audit-unavailable`` and there is no event and no body. The API
and the auditor console go through the same export service, so both are checked.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, EventRef
from hub.state import HubState
from hub.web.session import SESSION_COOKIE
from tests.conftest import Backend, account_bearer, audit_rows, bearer, lookup_body
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


async def _log_with_checkpoint(api: httpx.AsyncClient, state: HubState, backend: Backend) -> None:
    response = await api.post(
        "/v1/lookups", json=lookup_body(backend.residents[0]["resident_number"]), headers=bearer(state)
    )
    assert response.status_code == 200, response.text
    await state.integrator.integrate_once()


def _exports(backend: Backend) -> list[dict[str, Any]]:
    return [r for r in audit_rows(backend) if r["kind"] == "export"]


def _failing_append(monkeypatch: pytest.MonkeyPatch, state: HubState) -> None:
    async def refuse(session: AsyncSession, event: AuditEvent) -> EventRef:
        raise ConnectionError("the log's database went away")

    monkeypatch.setattr(state.audit, "append_in", refuse)


async def test_a_successful_export_writes_exactly_one_event_in_the_auditors_name(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _log_with_checkpoint(api, hub_state, backend)
    before = _exports(backend)
    body = await api.get("/v1/audit/export", headers=account_bearer(hub_state, "auditor"))
    assert body.status_code == 200 and body.content
    after = _exports(backend)
    assert len(after) == len(before) + 1
    assert after[-1]["actor_kind"] == "auditor" and after[-1]["outcome"] == "ok"
    assert after[-1]["request_id"], "the event names the request it was made in"


async def test_an_export_whose_event_cannot_be_written_sends_nothing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _log_with_checkpoint(api, hub_state, backend)
    before = _exports(backend)
    _failing_append(monkeypatch, hub_state)
    response = await api.get("/v1/audit/export", headers=account_bearer(hub_state, "auditor"))
    assert_problem(response, 503, "audit-unavailable")
    assert response.headers["retry-after"] == "5"
    assert _exports(backend) == before


async def test_an_export_whose_transaction_does_not_commit_sends_nothing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _log_with_checkpoint(api, hub_state, backend)
    before = _exports(backend)

    async def refuse(self: AsyncSession) -> None:
        raise ConnectionError("commit lost")

    monkeypatch.setattr(AsyncSession, "commit", refuse)
    response = await api.get("/v1/audit/export", headers=account_bearer(hub_state, "auditor"))
    monkeypatch.undo()
    assert_problem(response, 503, "audit-unavailable")
    assert _exports(backend) == before, "the INSERT was rolled back with the transaction"


async def test_the_consoles_export_fails_closed_the_same_way(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _log_with_checkpoint(api, hub_state, backend)
    before = _exports(backend)
    _failing_append(monkeypatch, hub_state)
    auditor = account_bearer(hub_state, "auditor")["Authorization"].removeprefix("Bearer ")
    api.cookies.set(SESSION_COOKIE, auditor)
    try:
        page = await api.get("/audit/export.csv", params={"lang": "en"})
    finally:
        api.cookies.clear()
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5"
    assert "leaf_index" not in page.text, "no row of the body"
    assert _exports(backend) == before
