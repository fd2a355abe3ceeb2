"""Issuance and revocation commit with their audit events, or neither happens (issue 15), on both databases.

The audit write of one kind of event is made to fail (as if the database refused it) and the request must
answer ``503 audit-unavailable`` with the state change undone: no ``valid`` row, no revocation. When it
succeeds there is exactly one event of that kind for the request, with the actor kind of the one mapping in
``hub.actors`` (a resident's self-issuance is logged as the resident, not as an official).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import create_engine, text

from hub.actors import account_actor
from hub.auth.tokens import AccountPrincipal
from hub.issuance import numbers
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend, audit_rows, bearer, lookup_body
from tests.helpers.audit_faults import failing_appends
from tests.helpers.pages import CSRF, browsers, sign_in  # noqa: F401 - browsers: a fixture

pytestmark = pytest.mark.anyio
AGENCY_STATUTE = "KR-RRA-29-2-1"  # the test agency's basis for a resident registration abstract
Browsers = tuple[httpx.AsyncClient, httpx.AsyncClient]  # the ``browsers`` fixture: two cookie-keeping clients


def refuse_audit(monkeypatch: pytest.MonkeyPatch, state: HubState, kind: str) -> None:
    """The audit write of one kind of event fails; every other event is written (until the test ends)."""
    for name, stand_in in failing_appends(state.trail.audit, kind).items():
        monkeypatch.setattr(state.trail.audit, name, stand_in)


def rows(backend: Backend, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(text(sql), params).mappings()]
    engine.dispose()
    return found


def valid_count(backend: Backend) -> int:
    return int(rows(backend, "SELECT count(*) AS n FROM issuances WHERE status = 'valid'")[0]["n"])


def events(backend: Backend, request_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [r for r in audit_rows(backend) if r["request_id"] == request_id and kind in (None, r["kind"])]


def request_id() -> str:
    # Hyphenated: a bare 32-hex-digit id can by chance look like a resident number (about 1 in 700), and the
    # hub then replaces it (issue 16); the hyphenated form never can.
    return f"it-{uuid.uuid4()}"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/audit-unavailable"


async def issue(api: httpx.AsyncClient, state: HubState, backend: Backend, rid: str) -> httpx.Response:
    body = lookup_body(backend.residents[0]["resident_number"], statute=AGENCY_STATUTE)
    headers = {**bearer(state, "test-agency"), "X-Request-ID": rid}
    return await api.post("/v1/issuances", json=body, headers=headers)


async def verify(api: httpx.AsyncClient, number: str) -> str:
    answer = await api.post("/v1/verify", json={"issuance_number": number})
    assert answer.status_code == 200, answer.text
    status: str = answer.json()["status"]
    return status


# -- issuance -----------------------------------------------------------------------------------------------


async def test_a_document_is_not_issued_when_its_issuance_event_cannot_be_written(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = valid_count(backend)
    refuse_audit(monkeypatch, hub_state, "issuance")
    rid = request_id()
    assert_unavailable(await issue(api, hub_state, backend, rid))

    assert valid_count(backend) == before, "no issuance row became valid"
    assert events(backend, rid, "issuance") == []
    (lookup,) = events(backend, rid, "lookup")  # the fields were fetched, and that is on the record
    (row,) = rows(
        backend, "SELECT number, status FROM issuances WHERE lookup_event_id = :e", e=lookup["event_id"]
    )
    assert row["status"] == "failed"
    assert await verify(api, numbers.display(row["number"])) == "unknown"


async def test_an_issuance_writes_exactly_one_issuance_event_as_the_client(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    before = valid_count(backend)
    rid = request_id()
    response = await issue(api, hub_state, backend, rid)
    assert response.status_code == 201, response.text
    issued = response.json()

    (event,) = events(backend, rid, "issuance")
    assert (event["actor_kind"], event["actor_id"], event["outcome"]) == ("client", "test-agency", "ok")
    assert event["event_id"] == issued["audit"]["event_id"]
    number = issued["issuance_number"].replace("-", "")
    (row,) = rows(backend, "SELECT status, audit_event_id FROM issuances WHERE number = :n", n=number)
    assert (row["status"], row["audit_event_id"]) == ("valid", event["event_id"])
    assert valid_count(backend) == before + 1
    assert await verify(api, issued["issuance_number"]) == "valid"


# -- revocation ---------------------------------------------------------------------------------------------


async def test_a_revocation_happens_with_its_event_or_not_at_all(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = (await issue(api, hub_state, backend, request_id())).json()
    number = issued["issuance_number"]
    agency = bearer(hub_state, "test-agency")

    refused_rid = request_id()
    with monkeypatch.context() as patched:
        refuse_audit(patched, hub_state, "revocation")
        refused = await api.post(
            f"/v1/issuances/{number}/revoke",
            json={"reason": "발급 오류"},
            headers={**agency, "X-Request-ID": refused_rid},
        )
        assert_unavailable(refused)
    assert await verify(api, number) == "valid", "the revoke was rolled back with its event"
    assert events(backend, refused_rid) == []

    rid = request_id()
    revoked = await api.post(
        f"/v1/issuances/{number}/revoke",
        json={"reason": "발급 오류"},
        headers={**agency, "X-Request-ID": rid},
    )
    assert revoked.status_code == 200, revoked.text
    (event,) = events(backend, rid, "revocation")
    assert (event["actor_kind"], event["actor_id"]) == ("client", "test-agency")
    assert event["event_id"] == revoked.json()["audit"]["event_id"]
    assert await verify(api, number) == "revoked"


async def test_a_verification_whose_event_cannot_be_written_answers_nothing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = (await issue(api, hub_state, backend, request_id())).json()
    refuse_audit(monkeypatch, hub_state, "verification")
    # With the check code the content is disclosed, and a disclosure is audited (the number alone is not).
    check = hub_state.issuance._crypto.check_code(issued["issuance_number"].replace("-", ""))
    answer = await api.post("/v1/verify", json={"issuance_number": issued["issuance_number"], "check": check})
    assert_unavailable(answer)
    assert "content" not in answer.json()


# -- a resident's own e-document ----------------------------------------------------------------------------


def _account(backend: Backend, username: str) -> AccountPrincipal:
    (row,) = rows(
        backend,
        "SELECT account_id, role, display_name, org, subject_commitment FROM accounts WHERE username = :u",
        u=username,
    )
    return AccountPrincipal(
        account_id=row["account_id"],
        role=row["role"],
        display_name=row["display_name"],
        org=row["org"],
        subject_commitment=row["subject_commitment"],
    )


async def test_a_residents_self_issuance_is_logged_as_the_resident(
    browsers: Browsers,  # noqa: F811 - the fixture imported above
    hub_state: HubState,
    backend: Backend,
) -> None:
    phone, _ = browsers
    # resident1: the documents page test expects resident0 to start with no e-documents (the databases are
    # shared by the whole session).
    await sign_in(phone, "resident1", "resident1-pw", "/me/documents")
    page = await phone.get("/me/documents")
    rid = request_id()
    issued = await phone.post(
        "/me/documents",
        data={"csrf": CSRF.search(page.text).group(1), "document": "resident_registration_abstract:basic"},  # type: ignore[union-attr]
        headers={"X-Request-ID": rid},
    )
    assert issued.status_code == 303, issued.text
    assert parse_qs(urlparse(issued.headers["location"]).query)["issued"]

    account = _account(backend, "resident1")
    (lookup,) = events(backend, rid, "lookup")
    (issuance,) = events(backend, rid, "issuance")
    for event in (lookup, issuance):
        assert (event["actor_kind"], event["actor_id"], event["outcome"]) == (
            "resident",
            account.account_id,
            "ok",
        )
    assert lookup["basis"] == "self" and lookup["purpose_code"] == "self-issuance"


async def test_a_self_issuance_through_the_service_is_logged_as_the_resident(
    hub_state: HubState, backend: Backend
) -> None:
    account = _account(backend, "resident1")
    subject = backend.residents[1]["resident_number"].replace("-", "")
    rid = request_id()
    async with transaction(hub_state.sessions) as session:
        issued = await hub_state.issuance.issue_own(
            session, account_actor(account), subject, "resident_registration_abstract", "basic", rid
        )
    kinds = {(e["kind"], e["actor_kind"]) for e in events(backend, rid)}
    assert kinds == {("lookup", "resident"), ("issuance", "resident")}
    (row,) = rows(
        backend,
        "SELECT status, requester_kind FROM issuances WHERE number = :n",
        n=issued.issuance_number.replace("-", ""),
    )
    assert (row["status"], row["requester_kind"]) == ("valid", "resident")


async def test_a_self_issuance_shown_as_a_page_error_leaves_nothing_valid(
    browsers: Browsers,  # noqa: F811 - the fixture imported above
    hub_state: HubState,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page renders the 503 as a message (it does not raise), so the request's commit still runs: the
    failed step must already have rolled back everything it wrote."""
    phone, _ = browsers
    await sign_in(phone, "resident2", "resident2-pw", "/me/documents")
    page = await phone.get("/me/documents")
    before = valid_count(backend)
    refuse_audit(monkeypatch, hub_state, "issuance")
    rid = request_id()
    refused = await phone.post(
        "/me/documents",
        data={"csrf": CSRF.search(page.text).group(1), "document": "resident_registration_abstract:basic"},  # type: ignore[union-attr]
        headers={"X-Request-ID": rid},
    )
    assert refused.status_code == 503 and "<h1>" in refused.text
    assert valid_count(backend) == before
    assert events(backend, rid, "issuance") == []
