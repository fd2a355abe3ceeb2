"""Every consent state change commits with its audit event, or neither happens; consent uses are counted
per document and re-check the consent's state in the same statement."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import asyncpg
import httpx
import pytest

from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend, account_bearer, audit_rows, bearer
from tests.helpers.audit_faults import audit_refuses, scalar
from tests.helpers.consent_flow import ABSTRACT, consent_lookup, create_request, granted

pytestmark = pytest.mark.anyio
COPY = {"document_type": "resident_registration_copy", "view": "basic"}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/audit-unavailable"


async def _mandate(api: httpx.AsyncClient, state: HubState) -> httpx.Response:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = {
        "agent_username": "resident1",
        "document_types": [ABSTRACT["document_type"]],
        "expires_at": expires,
    }
    return await api.post("/v1/me/mandates", json=body, headers=account_bearer(state, "resident0"))


# -- each state change fails closed -------------------------------------------------------------------------


async def test_a_consent_request_is_not_created_when_its_audit_event_cannot_be_written(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    before = scalar(backend, "SELECT count(*) FROM consent_requests")
    with audit_refuses(hub_state, "consent_request"):
        body = {
            "documents": [ABSTRACT],
            "purpose": {"code": "kyc"},
            "redirect_uri": "https://bank.test/callback",
        }
        assert_unavailable(await api.post("/v1/consent-requests", json=body, headers=bearer(hub_state)))
    assert scalar(backend, "SELECT count(*) FROM consent_requests") == before


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_a_decision_does_not_happen_when_its_audit_event_cannot_be_written(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, decision: str
) -> None:
    request = await create_request(api, hub_state)
    rid = request["request_id"]
    with audit_refuses(hub_state, f"consent_{decision}"):
        response = await api.post(
            f"/v1/me/consent-requests/{rid}/{decision}",
            json={},
            headers=account_bearer(hub_state, "resident0"),
        )
    assert_unavailable(response)
    status = (await api.get(f"/v1/consent-requests/{rid}", headers=bearer(hub_state))).json()["status"]
    assert status == "pending"
    assert scalar(backend, "SELECT count(*) FROM consents WHERE request_id = :r", r=rid) == 0


@pytest.mark.parametrize("action", ["pause", "revoke"])
async def test_a_pause_or_revoke_does_not_happen_when_its_audit_event_cannot_be_written(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, action: str
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    resident = account_bearer(hub_state, "resident0")
    with audit_refuses(hub_state, f"consent_{action}"):
        assert_unavailable(await api.post(f"/v1/me/consents/{consent_id}/{action}", headers=resident))
    assert scalar(backend, "SELECT status FROM consents WHERE consent_id = :c", c=consent_id) == "active"
    receipts = (await api.get(f"/v1/me/consents/{consent_id}/receipts", headers=resident)).json()["receipts"]
    assert [r["kind"] for r in receipts] == ["approved"], "no revocation receipt for a revocation that failed"
    lookup = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert lookup.status_code == 200, "the consent is still usable: nothing changed"


async def test_a_resume_does_not_happen_when_its_audit_event_cannot_be_written(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    resident = account_bearer(hub_state, "resident0")
    assert (await api.post(f"/v1/me/consents/{consent_id}/pause", headers=resident)).status_code == 200
    with audit_refuses(hub_state, "consent_resume"):
        assert_unavailable(await api.post(f"/v1/me/consents/{consent_id}/resume", headers=resident))
    assert scalar(backend, "SELECT status FROM consents WHERE consent_id = :c", c=consent_id) == "paused"


async def test_a_mandate_does_not_exist_when_its_grant_cannot_be_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    before = scalar(backend, "SELECT count(*) FROM mandates")
    with audit_refuses(hub_state, "mandate_grant"):
        assert_unavailable(await _mandate(api, hub_state))
    assert scalar(backend, "SELECT count(*) FROM mandates") == before


async def test_a_mandate_stays_active_when_its_revocation_cannot_be_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    mandate = (await _mandate(api, hub_state)).json()
    resident = account_bearer(hub_state, "resident0")
    with audit_refuses(hub_state, "mandate_revoke"):
        response = await api.post(f"/v1/me/mandates/{mandate['mandate_id']}/revoke", headers=resident)
    assert_unavailable(response)
    revoked_at = scalar(
        backend, "SELECT revoked_at FROM mandates WHERE mandate_id = :m", m=mandate["mandate_id"]
    )
    assert revoked_at is None


# -- and each that succeeds is recorded exactly once, by the right kind of actor ----------------------------


async def test_each_consent_change_is_recorded_once_with_its_actor_kind(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    resident = account_bearer(hub_state, "resident0")
    request = await create_request(api, hub_state)
    approved = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve", json={}, headers=resident
    )
    consent_id = approved.json()["consent"]["consent_id"]
    denied_request = await create_request(api, hub_state)
    await api.post(f"/v1/me/consent-requests/{denied_request['request_id']}/deny", json={}, headers=resident)
    for action in ("pause", "resume", "revoke"):
        assert (await api.post(f"/v1/me/consents/{consent_id}/{action}", headers=resident)).status_code == 200
    mandate = (await _mandate(api, hub_state)).json()
    await api.post(f"/v1/me/mandates/{mandate['mandate_id']}/revoke", headers=resident)

    rows = audit_rows(backend)
    expected: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
        ("consent_request", "client", lambda r: r["basis"] == f"request:{request['request_id']}"),
        ("consent_approve", "resident", lambda r: r["reason"] == f"consent:{consent_id}"),
        ("consent_deny", "resident", lambda r: r["reason"] == f"request:{denied_request['request_id']}"),
        ("consent_pause", "resident", lambda r: r["reason"] == f"consent:{consent_id}"),
        ("consent_resume", "resident", lambda r: r["reason"] == f"consent:{consent_id}"),
        ("consent_revoke", "resident", lambda r: r["reason"] == f"consent:{consent_id}"),
        ("mandate_grant", "resident", lambda r: r["basis"] == f"mandate:{mandate['mandate_id']}"),
        ("mandate_revoke", "resident", lambda r: r["basis"] == f"mandate:{mandate['mandate_id']}"),
    ]
    for kind, actor_kind, mine in expected:
        matching = [r for r in rows if r["kind"] == kind and mine(r)]
        assert len(matching) == 1, (kind, matching)
        assert matching[0]["actor_kind"] == actor_kind, kind


# -- counting -----------------------------------------------------------------------------------------------


async def test_a_one_time_consent_for_two_documents_allows_each_document_once(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY])
    client = bearer(hub_state)
    first = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    second = await api.post("/v1/lookups", json=consent_lookup(consent_id, **COPY), headers=client)
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    for document in (ABSTRACT, COPY):
        again = await api.post("/v1/lookups", json=consent_lookup(consent_id, **document), headers=client)
        assert again.status_code == 403, again.text
        assert again.json()["type"] == "/problems/consent-exhausted"


async def test_a_one_time_consent_for_two_documents_does_not_give_one_document_two_fetches(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY])
    client = bearer(hub_state)
    assert (await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)).status_code == 200
    again = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    assert again.status_code == 403 and again.json()["type"] == "/problems/consent-exhausted"
    other = await api.post("/v1/lookups", json=consent_lookup(consent_id, **COPY), headers=client)
    assert other.status_code == 200, "the other document's use is still there"


async def test_a_standing_consent_counts_max_uses_per_document(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY], mode="standing", max_uses=2)
    client = bearer(hub_state)
    codes = [
        (await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 403]
    copy = [
        (await api.post("/v1/lookups", json=consent_lookup(consent_id, **COPY), headers=client)).status_code
        for _ in range(3)
    ]
    assert copy == [200, 200, 403]
    mine = next(
        c
        for c in (await api.get("/v1/consents", headers=client)).json()["consents"]
        if c["consent_id"] == consent_id
    )
    assert (mine["uses"], mine["max_uses"], mine["state"]) == (4, 2, "exhausted")


# -- a revoke racing a lookup ------------------------------------------------------------------------------


async def test_a_lookup_waiting_on_a_revoke_in_progress_is_refused_once_the_revoke_commits(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """The revoke holds the consent row; the lookup's use must wait for it and then see 'revoked'."""
    consent_id = await granted(api, hub_state, mode="standing", max_uses=50)
    commitment = scalar(
        backend, "SELECT subject_commitment FROM consents WHERE consent_id = :c", c=consent_id
    )
    async with transaction(hub_state.sessions) as session:
        await hub_state.consent.rules.change(session, consent_id, commitment, "revoke", "resident0")
        lookup = asyncio.create_task(
            api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
        )
        await asyncio.sleep(1.0)
        assert not lookup.done(), "the lookup must wait for the revoke's transaction, not release meanwhile"
    response = await asyncio.wait_for(lookup, timeout=30)
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/consent-revoked"


async def test_lookups_racing_a_revoke_are_released_only_before_it(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """Real concurrency: every lookup answered 200 counted its use before the revoke committed."""
    consent_id = await granted(api, hub_state, mode="standing", max_uses=200)
    client = bearer(hub_state)
    resident = account_bearer(hub_state, "resident0")

    async def lookup_after(delay: float) -> httpx.Response:
        await asyncio.sleep(delay)
        return await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)

    async def revoke() -> tuple[httpx.Response, datetime]:
        await asyncio.sleep(0.05)
        response = await api.post(f"/v1/me/consents/{consent_id}/revoke", headers=resident)
        return response, datetime.now(UTC)

    lookups = [lookup_after(i * 0.01) for i in range(30)]
    results = await asyncio.gather(revoke(), *lookups)
    (revoked, _), answers = results[0], results[1:]
    assert revoked.status_code == 200, revoked.text
    allowed = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert all(r.status_code == 403 for r in refused), [r.text for r in refused]
    assert all(r.json()["type"] in ("/problems/consent-revoked",) for r in refused)
    uses = scalar(backend, "SELECT uses FROM consents WHERE consent_id = :c", c=consent_id)
    assert uses == len(allowed), "every released lookup counted exactly one use, and no refused one did"
    # Ordering: the revoke's lock waited for every use that got in before it, so each released lookup's
    # 'used' event precedes the 'revoked' event in the consent's own event sequence.
    ids = scalar(
        backend,
        "SELECT max(id) FROM consent_events WHERE consent_id = :c AND kind = 'used'",
        c=consent_id,
    )
    revoked_id = scalar(
        backend, "SELECT id FROM consent_events WHERE consent_id = :c AND kind = 'revoked'", c=consent_id
    )
    assert ids is None or ids < revoked_id


# -- the consent use and its record as one statement ---------------------------------------------------------


def _use_trace(backend: Backend, consent_id: str) -> tuple[int, int, int, int, int]:
    """The consent's count, its documents' counts, its ``used`` rows, the outbox rows of its lookups, and
    outbox rows of no event at all (notices written without their event)."""
    return (
        scalar(backend, "SELECT uses FROM consents WHERE consent_id = :c", c=consent_id),
        scalar(backend, "SELECT sum(uses) FROM consent_uses WHERE consent_id = :c", c=consent_id),
        scalar(
            backend,
            "SELECT count(*) FROM consent_events WHERE consent_id = :c AND kind = 'used'",
            c=consent_id,
        ),
        scalar(
            backend,
            "SELECT count(*) FROM outbox o JOIN audit_events e ON e.event_id = o.event_id"
            " WHERE e.basis = :b AND e.outcome = 'ok'",
            b=f"consent:{consent_id}",
        ),
        scalar(
            backend,
            "SELECT count(*) FROM outbox o WHERE o.event_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.event_id = o.event_id)",
        ),
    )


async def test_a_consent_lookup_writes_its_use_event_and_notices_together_or_not_at_all(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    # Two documents, one use each: after the abstract's use the consent is still active (the copy has its
    # use), so a second abstract passes the consent check and is refused by the use itself.
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY], mode="standing", max_uses=1)
    client = bearer(hub_state)
    orphans = _use_trace(backend, consent_id)[4]
    with audit_refuses(hub_state, "lookup"):
        failed = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    assert_unavailable(failed)
    assert _use_trace(backend, consent_id) == (0, 0, 0, 0, orphans), "an unrecorded lookup counted no use"
    answered = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    assert answered.status_code == 200, answered.text
    trace = _use_trace(backend, consent_id)
    assert trace[:3] == (1, 1, 1) and trace[3] >= 1 and trace[4] == orphans  # the inbox, e-mail if taken
    refused = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/consent-exhausted"
    assert _use_trace(backend, consent_id) == trace, "a refused use wrote nothing, not even a notice"
    denied = next(r for r in audit_rows(backend) if r["event_id"] == refused.json()["audit_event_id"])
    assert (denied["outcome"], denied["reason"]) == ("denied", "consent_exhausted")


async def test_a_consent_lookup_on_postgresql_is_one_statement_after_the_agency_answers(
    hub_state: HubState, backend: Backend, api: httpx.AsyncClient
) -> None:
    if backend.name != "postgres":
        pytest.skip("the joined statement is PostgreSQL's (SQLite has no DML in CTEs); SQLite runs the above")
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    sent: list[str] = []
    fetchval = asyncpg.Connection.fetchval

    async def watching(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await fetchval(self, query, *args, **kwargs)

    with patch.object(asyncpg.Connection, "fetchval", watching):
        response = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert response.status_code == 200, response.text
    (statement,) = [q for q in sent if "audit_events" in q]
    writes = ("UPDATE consent_uses", "UPDATE consents", "INSERT INTO consent_events", "INSERT INTO outbox")
    for written in writes:
        assert written in statement, written
    assert "FOR UPDATE" in statement  # the consent row is locked before the document's counter


async def test_a_use_in_the_callers_transaction_counts_once_and_says_why_it_does_not(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """``ConsentService.use`` (the lookup's path where the use cannot ride with the event): the same rules."""
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY], mode="standing", max_uses=1)
    rules = hub_state.consent.rules
    abstract = (ABSTRACT["document_type"], ABSTRACT["view"])
    async with transaction(hub_state.sessions) as session:
        assert await rules.use(session, consent_id, *abstract, "test-bank") is None
    async with transaction(hub_state.sessions) as session:
        assert await rules.use(session, consent_id, *abstract, "test-bank") == "consent_exhausted"
        await session.rollback()  # as the broker does with a refusal
    assert _use_trace(backend, consent_id)[:3] == (1, 1, 1)
    commitment = scalar(
        backend, "SELECT subject_commitment FROM consents WHERE consent_id = :c", c=consent_id
    )
    async with transaction(hub_state.sessions) as session:
        await rules.change(session, consent_id, commitment, "revoke", "resident0")
    async with transaction(hub_state.sessions) as session:
        copy = (COPY["document_type"], COPY["view"])
        assert await rules.use(session, consent_id, *copy, "test-bank") == "consent_revoked"
        await session.rollback()
    assert _use_trace(backend, consent_id)[:3] == (1, 1, 1)


async def test_a_refused_use_whose_reason_cannot_be_read_fails_closed(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hub_state.trail.joins_uses:
        pytest.skip("the reason is read after the joined statement (PostgreSQL); SQLite reads it inside")
    consent_id = await granted(api, hub_state, documents=[ABSTRACT, COPY], mode="standing", max_uses=1)
    client = bearer(hub_state)
    assert (await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)).status_code == 200
    trace = _use_trace(backend, consent_id)

    async def unreadable(*args: Any) -> str:
        raise OSError("connection lost")

    monkeypatch.setattr(hub_state.broker.consent, "use_refusal", unreadable)
    refused = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=client)
    assert_unavailable(refused)
    assert "fields" not in refused.json()
    assert _use_trace(backend, consent_id) == trace
