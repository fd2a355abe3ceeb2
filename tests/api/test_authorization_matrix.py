"""Who may reach which route, generated from the app's own route table.

One table says, for every route, which kinds of caller get past authentication and role checks. A route
that is added without an entry fails ``test_every_route_has_an_entry``; a route that lets the wrong caller
through (or shuts out the right one) fails ``test_each_role_reaches_exactly_its_routes``. The second half
checks objects: resident B, official Y and the other client never reach what belongs to A, X or the first
client, even with the right role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from hub.actors import account_actor
from hub.app import create_app
from hub.auth.accounts import create_account
from hub.auth.models import AccountRow
from hub.state import HubState
from hub.uow import transaction
from hub.web.session import SESSION_COOKIE
from tests.conftest import Backend, account_bearer, bearer
from tests.helpers.consent_flow import granted

pytestmark = pytest.mark.anyio

ANON, RES_A, RES_B, OFF_X, OFF_Y = "anonymous", "resident_a", "resident_b", "official_x", "official_y"
BANK, AGENCY, AUDITOR = "bank", "agency", "auditor"
ROLES = (ANON, RES_A, RES_B, OFF_X, OFF_Y, BANK, AGENCY, AUDITOR)
EVERYONE = frozenset(ROLES)
RESIDENTS = frozenset({RES_A, RES_B})
OFFICIALS = frozenset({OFF_X, OFF_Y})
CLIENTS = frozenset({BANK, AGENCY})
ACCOUNTS = RESIDENTS | OFFICIALS | {AUDITOR}
NOBODY: frozenset[str] = frozenset()  # credentials are the body itself: dummy ones get nobody in

# Who gets past authentication and the role check of each route. Object ownership is checked below.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/auth/token"): NOBODY,
    ("POST", "/v1/auth/login"): NOBODY,
    ("POST", "/v1/auth/logout"): ACCOUNTS | CLIENTS,
    ("POST", "/v1/lookups"): CLIENTS,
    ("POST", "/v1/lookups/bundle"): CLIENTS,
    ("GET", "/v1/documents"): EVERYONE,
    ("GET", "/v1/documents/{document_type}"): EVERYONE,
    ("GET", "/v1/bundles"): EVERYONE,
    ("GET", "/v1/bundles/{bundle_id}"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/.well-known/gongyu/keys"): EVERYONE,
    ("GET", "/v1/audit/checkpoint"): EVERYONE,
    ("GET", "/v1/audit/verifier-key"): EVERYONE,
    ("GET", "/v1/audit/witnesses"): EVERYONE,
    ("GET", "/v1/audit/proof/inclusion"): EVERYONE,
    ("GET", "/v1/audit/proof/consistency"): EVERYONE,
    ("GET", "/v1/audit/leaves/{leaf_index}"): ACCOUNTS,
    ("GET", "/v1/audit/export"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/export/manifest"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/anomaly-rules"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/anomalies"): frozenset({AUDITOR}),
    ("GET", "/checkpoint"): EVERYONE,  # the log as C2SP tlog-tiles (hub/api/tiles.py)
    ("GET", "/tile/{path:path}"): EVERYONE,
    ("GET", "/tile/entries/{path:path}"): frozenset({AUDITOR}),  # leaves hold what the public may not read
    ("GET", "/v1/stats/lookups"): EVERYONE,  # open statistics: counts only, ten days late, small cells hidden
    ("GET", "/v1/stats/lookups/manifest"): EVERYONE,
    ("GET", "/v1/me/access-log"): RESIDENTS,
    ("POST", "/v1/issuances"): CLIENTS,
    ("GET", "/v1/issuances/{number}/pdf"): CLIENTS,
    ("POST", "/v1/issuances/{number}/revoke"): frozenset({AGENCY}),
    ("POST", "/v1/verify"): EVERYONE
    - RESIDENTS
    - OFFICIALS
    - {AUDITOR},  # an account token is not a client's
    ("POST", "/tsa"): EVERYONE,
    ("POST", "/v1/consent-requests"): CLIENTS,
    ("GET", "/v1/consent-requests/{request_id}"): CLIENTS,
    ("GET", "/v1/consents"): CLIENTS,
    ("GET", "/v1/me/consent-requests/{request_id}"): RESIDENTS,
    ("POST", "/v1/me/consent-requests/{request_id}/approve"): RESIDENTS,
    ("POST", "/v1/me/consent-requests/{request_id}/deny"): RESIDENTS,
    ("GET", "/v1/me/consents"): RESIDENTS,
    ("POST", "/v1/me/consents/{consent_id}/{action}"): RESIDENTS,
    ("GET", "/v1/me/consents/{consent_id}/receipts"): RESIDENTS,
    ("POST", "/v1/me/mandates"): RESIDENTS,
    ("GET", "/v1/me/mandates"): RESIDENTS,
    ("POST", "/v1/me/mandates/{mandate_id}/revoke"): RESIDENTS,
    ("GET", "/v1/me/notifications"): RESIDENTS,
    ("POST", "/v1/me/notifications/{message_id}/read"): RESIDENTS,
    # staff notices (issue 13): officials, auditors and privacy officers (not among these callers)
    ("GET", "/v1/staff/notifications"): OFFICIALS | {AUDITOR},
    ("POST", "/v1/staff/notifications/{message_id}/read"): OFFICIALS | {AUDITOR},
    ("GET", "/v1/me/notification-preferences"): RESIDENTS,
    ("PUT", "/v1/me/notification-preferences"): RESIDENTS,
    ("POST", "/v1/notices/verify"): EVERYONE,
    ("POST", "/v1/webhooks"): CLIENTS,
    # civil applications (issue 13): forms are public; a resident's own applications; a department's cases
    ("GET", "/v1/forms"): EVERYONE,
    ("GET", "/v1/forms/{form_type}"): EVERYONE,
    ("POST", "/v1/me/applications"): RESIDENTS,
    ("GET", "/v1/me/applications"): RESIDENTS,
    ("GET", "/v1/me/applications/{application_id}"): RESIDENTS,
    ("POST", "/v1/me/applications/{application_id}/transitions"): RESIDENTS,
    ("POST", "/v1/me/applications/{application_id}/rating"): RESIDENTS,
    ("GET", "/v1/cases"): OFFICIALS,
    ("GET", "/v1/cases/{application_id}"): OFFICIALS,
    ("POST", "/v1/cases/{application_id}/transitions"): OFFICIALS,
    # disputes of an access (issue 13, item 8): a resident files; the organisation's privacy officer
    # (a role none of these callers has: tests/disputes covers it) or an auditor answers
    ("POST", "/v1/me/disputes"): RESIDENTS,
    ("GET", "/v1/me/disputes"): RESIDENTS,
    ("GET", "/v1/disputes"): frozenset({AUDITOR}),
    ("GET", "/v1/disputes/{dispute_id}"): frozenset({AUDITOR}),
    ("POST", "/v1/disputes/{dispute_id}/answer"): frozenset({AUDITOR}),
    # the department dashboard (issue 13, item 7): officials (of that department: 404 for others)
    ("GET", "/v1/departments/{department}/dashboard"): OFFICIALS,
    ("GET", "/v1/departments/{department}/dashboard.csv"): OFFICIALS,
    ("POST", "/v1/me/applications/{application_id}/handoff"): RESIDENTS,
    ("POST", "/v1/counter/handoff/decode"): OFFICIALS,
    ("GET", "/v1/counter/handoff/keys/{counter_id}"): EVERYONE,
    # a case's files: the applicant or the department's officials (which case is the service's check)
    ("POST", "/v1/application-files"): RESIDENTS | OFFICIALS,
    ("GET", "/v1/me/applications/{application_id}/files"): RESIDENTS,
    ("GET", "/v1/me/applications/{application_id}/files/{file_id}"): RESIDENTS,
    ("GET", "/v1/cases/{application_id}/files"): OFFICIALS,
    ("GET", "/v1/cases/{application_id}/files/{file_id}"): OFFICIALS,
    # The demo's mail sink: served in development only, so 404 to everyone in the test environment.
    ("GET", "/dev/mail"): NOBODY,
    ("GET", "/"): EVERYONE,
    ("GET", "/notices/verify"): EVERYONE,
    ("POST", "/notices/verify"): EVERYONE,
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): NOBODY,
    ("POST", "/logout"): EVERYONE,  # signing out without a session is a harmless redirect
    ("GET", "/consent/{request_id}"): RESIDENTS,
    ("POST", "/consent/{request_id}"): RESIDENTS,
    ("GET", "/me"): RESIDENTS,
    ("GET", "/me/consents"): RESIDENTS,
    ("POST", "/me/consents/{consent_id}/{action}"): RESIDENTS,
    ("POST", "/me/mandates/{mandate_id}/revoke"): RESIDENTS,
    ("GET", "/me/consents/{consent_id}/receipts/{receipt_id}"): RESIDENTS,
    ("GET", "/me/history"): RESIDENTS,
    ("GET", "/me/documents"): RESIDENTS,
    ("POST", "/me/documents"): RESIDENTS,
    ("GET", "/me/documents/{number}/pdf"): RESIDENTS,
    ("GET", "/me/notices/preferences"): RESIDENTS,
    ("POST", "/me/notices/preferences"): RESIDENTS,
    ("GET", "/counter"): OFFICIALS,
    ("POST", "/counter"): OFFICIALS,
    ("GET", "/counter/sessions/{request_id}"): OFFICIALS,
    ("GET", "/counter/sessions/{request_id}/status"): OFFICIALS,
    ("GET", "/counter/issuances/{number}/pdf"): OFFICIALS,
    ("GET", "/me/applications/{application_id}/handoff"): RESIDENTS,
    ("POST", "/me/applications/{application_id}/handoff"): RESIDENTS,
    ("GET", "/counter/handoff"): OFFICIALS,
    ("POST", "/counter/handoff"): OFFICIALS,
    # civil application pages (issue 13)
    ("GET", "/me/applications"): RESIDENTS,
    ("GET", "/me/applications/new/{form_type}"): RESIDENTS,
    ("POST", "/me/applications/new/{form_type}"): RESIDENTS,
    ("POST", "/me/applications/new/{form_type}/prefill"): RESIDENTS,
    ("GET", "/me/applications/new/{form_type}/proxy"): RESIDENTS,
    ("POST", "/me/applications/proxy"): RESIDENTS,
    ("GET", "/me/applications/{application_id}"): RESIDENTS,
    ("GET", "/me/applications/{application_id}/files/{file_id}"): RESIDENTS,
    ("POST", "/me/applications/{application_id}/move"): RESIDENTS,
    ("POST", "/me/applications/{application_id}/rating"): RESIDENTS,
    ("GET", "/apply/{session_id}"): RESIDENTS,
    ("GET", "/cases"): OFFICIALS,
    ("GET", "/cases/{application_id}"): OFFICIALS,
    ("GET", "/cases/{application_id}/files/{file_id}"): OFFICIALS,
    ("POST", "/cases/{application_id}/transitions"): OFFICIALS,
    ("POST", "/counter/forms"): OFFICIALS,
    ("GET", "/counter/forms/{session_id}"): OFFICIALS,
    ("GET", "/counter/forms/{session_id}/status"): OFFICIALS,
    ("GET", "/audit"): frozenset({AUDITOR}),
    ("GET", "/audit/events"): frozenset({AUDITOR}),
    ("GET", "/audit/export"): frozenset({AUDITOR}),
    ("GET", "/audit/export.{fmt}"): frozenset({AUDITOR}),
    ("GET", "/audit/export/manifest"): frozenset({AUDITOR}),
    ("GET", "/audit/anomalies"): frozenset({AUDITOR}),
    ("GET", "/me/history/{leaf_index}/dispute"): RESIDENTS,
    ("POST", "/me/history/{leaf_index}/dispute"): RESIDENTS,
    ("GET", "/me/disputes"): RESIDENTS,
    ("GET", "/disputes"): frozenset(),  # privacy officers only (not among these callers)
    ("GET", "/audit/disputes"): frozenset({AUDITOR}),
    ("POST", "/disputes/{dispute_id}/answer"): frozenset({AUDITOR}),  # and privacy officers
    ("GET", "/staff/notices"): OFFICIALS | {AUDITOR},  # and privacy officers
    ("POST", "/staff/notices/{message_id}/read"): OFFICIALS | {AUDITOR},
    ("GET", "/dashboard"): OFFICIALS,
    ("GET", "/departments/{department}/dashboard"): OFFICIALS,
    ("GET", "/departments/{department}/dashboard.csv"): OFFICIALS,
    ("GET", "/stats"): EVERYONE,
    ("GET", "/stats/lookups.{fmt}"): EVERYONE,
    ("GET", "/stats/lookups.manifest.json"): EVERYONE,
    ("GET", "/verify"): EVERYONE,
    ("POST", "/verify"): EVERYONE,
    # credentials the resident holds (issue 14, part 3): issued to, listed and revoked by the resident
    # (another's reads as absent: tests/credentials); the status list, issuer metadata and verifier are public
    ("POST", "/v1/me/credentials"): RESIDENTS,
    ("GET", "/v1/me/credentials"): RESIDENTS,
    ("POST", "/v1/me/credentials/{credential_id}/revoke"): RESIDENTS,
    ("GET", "/v1/credentials/status-lists/{list_id}"): EVERYONE,
    ("GET", "/.well-known/jwt-vc-issuer"): EVERYONE,
    ("POST", "/v1/credentials/verify"): EVERYONE,
    ("GET", "/credentials/verify"): EVERYONE,
    ("POST", "/credentials/verify"): EVERYONE,
}

# Placeholder path parameters: well-formed, naming nothing that exists.
PLACEHOLDERS = {
    "request_id": "00000000-0000-0000-0000-000000000000",
    "consent_id": "00000000-0000-0000-0000-000000000000",
    "mandate_id": "00000000-0000-0000-0000-000000000000",
    "message_id": "00000000-0000-0000-0000-000000000000",
    "receipt_id": "00000000-0000-0000-0000-000000000000",
    "number": "1000-0000-0000-0000",
    "leaf_index": "0",
    "document_type": "resident_registration_abstract",
    "bundle_id": "moving_house",
    "action": "pause",
    "fmt": "csv",
    "form_type": "moving_in_report",
    "application_id": "00000000-0000-0000-0000-000000000000",
    "session_id": "00000000-0000-0000-0000-000000000000",
    "counter_id": "org-0000",
    "dispute_id": "00000000-0000-0000-0000-000000000000",
    "department": "welfare",
    "file_id": "00000000-0000-0000-0000-000000000000",
    "credential_id": "00000000-0000-0000-0000-000000000000",
    "list_id": "1",
}
# Complete bodies, so that what decides the answer is the caller, not a missing field.
FORMS: dict[str, dict[str, str]] = {
    "/consent/{request_id}": {"decision": "deny"},
    "/me/documents": {"document": "no_such_document:basic"},  # reached, refused, nothing issued
    "/counter": {"documents": "resident_registration_abstract:basic"},
    "/login": {"username": "nobody", "password": "wrong"},
    "/me/applications/{application_id}/rating": {"rating": "5"},
    "/cases/{application_id}/transitions": {"to": "assigned"},
    "/counter/forms": {"form_type": "no_such_form"},  # reached, refused (404), nothing opened
    "/notices/verify": {"code": "0000-0000-0000"},
    "/me/history/{leaf_index}/dispute": {"reason": "matrix"},
    "/disputes/{dispute_id}/answer": {"action": "escalated", "answer": "matrix"},
    "/credentials/verify": {"presentation": "x.y.z~", "audience": "matrix", "nonce": "matrix"},
}
DOC = "resident_registration_abstract"
JSON: dict[str, dict[str, Any]] = {
    "/v1/auth/login": {"username": "nobody", "password": "wrong"},
    "/v1/issuances/{number}/revoke": {"reason": "matrix test"},
    "/v1/verify": {"issuance_number": "1000-0000-0000-0000"},
    # A public-looking name the SSRF guard accepts (a loopback URL is refused with 422 before the role is
    # ever in question): ".invalid" never resolves (RFC 2606), so registration succeeds (201 for a client,
    # names that do not resolve yet are accepted) and a delivery other tests' workers may try fails at once.
    "/v1/webhooks": {"url": "https://matrix.invalid/hooks"},
    "/v1/me/disputes": {"leaf_index": 999999999, "reason": "matrix"},
    "/v1/disputes/{dispute_id}/answer": {"action": "escalated", "answer": "matrix"},
    # reached, refused (a private key is no holder key): nothing is looked up or issued
    "/v1/me/credentials": {"document_type": DOC, "view": "basic", "holder_jwk": {"kty": "EC", "d": "x"}},
    "/v1/credentials/verify": {"presentation": "x.y.z~", "audience": "matrix", "nonce": "matrix"},
}
# Signing out spends the caller's token: these run last, each with a token of its own.
LAST = {("POST", "/v1/auth/logout"), ("POST", "/logout")}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, nested routers included (static mounts and docs excepted)."""

    def walk(items: list[Any]) -> Iterator[tuple[str, str]]:
        for item in items:
            if isinstance(item, APIRoute):
                for method in sorted(item.methods - {"HEAD"}):
                    yield method, item.path
            elif hasattr(item, "original_router"):
                yield from walk(item.original_router.routes)

    yield from walk(list(app.routes))


@dataclass(frozen=True)
class Caller:
    headers: dict[str, str]
    cookie: str | None  # the page session cookie (the same account token)


def _csrf(state: HubState, cookie: str) -> str:
    return hmac.new(state.keys.data_key, b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


async def _official_y(state: HubState) -> dict[str, str]:
    async with transaction(state.sessions) as session:
        found = (
            await session.execute(select(AccountRow).where(AccountRow.username == "official-y"))
        ).scalar_one_or_none()
        if found is None:
            await create_account(
                session,
                username="official-y",
                password="official-y-pw",
                role="official",
                display_name="Official Y",
                org="Other Office",
            )
    return account_bearer(state, "official-y")


async def callers(state: HubState) -> dict[str, Caller]:
    tokens = {
        RES_A: account_bearer(state, "resident0"),
        RES_B: account_bearer(state, "resident1"),
        OFF_X: account_bearer(state, "official"),
        OFF_Y: await _official_y(state),
        AUDITOR: account_bearer(state, "auditor"),
        BANK: bearer(state, "test-bank"),
        AGENCY: bearer(state, "test-agency"),
    }
    found = {ANON: Caller({}, None)}
    for role, headers in tokens.items():
        cookie = headers["Authorization"].split(" ", 1)[1] if role in ACCOUNTS else None
        found[role] = Caller(headers, cookie)
    return found


def _denied(response: httpx.Response) -> bool:
    """Authentication or role refused: 401, 403, or a page sending the caller to sign in first."""
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    return response.status_code in (302, 303) and location.startswith("/login?next=")


async def _call(
    client: httpx.AsyncClient, state: HubState, method: str, path: str, caller: Caller
) -> httpx.Response:
    url = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], path)
    is_page = not (
        url.startswith(("/v1/", "/.well", "/tile/"))
        or url in ("/tsa", "/healthz", "/readyz", "/checkpoint")
    )
    headers = dict(caller.headers) if not is_page else {}
    client.cookies.clear()
    if is_page and caller.cookie:
        client.cookies.set(SESSION_COOKIE, caller.cookie, domain="hub.test")
    if method == "GET":
        return await client.get(url, headers=headers)
    if is_page:
        data = {"csrf": _csrf(state, caller.cookie) if caller.cookie else "x", **FORMS.get(path, {})}
        return await client.post(url, headers=headers, data=data)
    if method == "PUT":
        return await client.put(url, headers=headers, json=JSON.get(path, {}))
    return await client.post(url, headers=headers, json=JSON.get(path, {}))


@pytest.fixture
async def pages(hub_state: HubState, backend: Backend) -> Any:
    app = create_app(backend.settings, state=hub_state)
    async with _lifespan(app) as client:
        yield app, client


def _lifespan(app: FastAPI) -> Any:
    from contextlib import asynccontextmanager

    from asgi_lifespan import LifespanManager

    @asynccontextmanager
    async def managed() -> Any:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                yield client

    return managed()


async def test_every_route_has_an_entry(pages: Any) -> None:
    app, _ = pages
    served = set(routes(app))
    assert served - set(MATRIX) == set(), "routes without an entry in the authorization matrix"
    assert set(MATRIX) - served == set(), "entries for routes that no longer exist"


async def test_each_role_reaches_exactly_its_routes(pages: Any, hub_state: HubState) -> None:
    _, client = pages
    wrong: list[str] = []
    ordered = sorted(MATRIX.items(), key=lambda item: (item[0] in LAST, item[0]))
    for (method, path), allowed in ordered:
        who = await callers(hub_state)  # fresh tokens: an earlier sign-out must not decide a later answer
        for role in ROLES:
            response = await _call(client, hub_state, method, path, who[role])
            if response.status_code == 429:
                continue  # throttled: neither a grant nor a refusal of the role
            if not allowed:
                reached = 200 <= response.status_code < 300 or SESSION_COOKIE in response.headers.get(
                    "set-cookie", ""
                )
                if reached:
                    wrong.append(f"{method} {path} as {role}: {response.status_code} with dummy credentials")
            elif (role in allowed) == _denied(response):
                wrong.append(f"{method} {path} as {role}: {response.status_code}")
    assert wrong == [], "\n".join(wrong)


async def test_the_webhook_row_registers_for_a_client_and_refuses_the_other_roles(
    pages: Any, hub_state: HubState
) -> None:
    """The matrix's webhook body reaches registration (201), so its rows prove the role check, not the SSRF
    guard's 422: a client registers, a resident, official, auditor or nobody is refused."""
    _, client = pages
    who = await callers(hub_state)
    registered = await _call(client, hub_state, "POST", "/v1/webhooks", who[BANK])
    assert registered.status_code == 201, registered.text
    for role in (RES_A, OFF_X, AUDITOR, ANON):
        refused = await _call(client, hub_state, "POST", "/v1/webhooks", who[role])
        assert _denied(refused), f"{role}: {refused.status_code}"


# -- objects: the right role is not enough -------------------------------------------------------------------


async def test_residents_never_reach_each_others_consents_receipts_or_mandates(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=3)
    other = account_bearer(hub_state, "resident1")
    for action in ("pause", "revoke"):
        response = await api.post(f"/v1/me/consents/{consent_id}/{action}", headers=other)
        assert response.status_code == 404, (action, response.text)
    assert (await api.get(f"/v1/me/consents/{consent_id}/receipts", headers=other)).status_code == 404
    listed = (await api.get("/v1/me/consents", headers=other)).json()["consents"]
    assert consent_id not in {c["consent_id"] for c in listed}

    expires = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    mandate = await api.post(
        "/v1/me/mandates",
        json={
            "agent_username": "resident2",
            "document_types": ["resident_registration_abstract"],
            "expires_at": expires,
        },
        headers=account_bearer(hub_state, "resident0"),
    )
    assert mandate.status_code == 201, mandate.text
    revoke = await api.post(f"/v1/me/mandates/{mandate.json()['mandate_id']}/revoke", headers=other)
    assert revoke.status_code == 404


async def test_clients_never_reach_each_others_requests_consents_or_documents(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state)
    agency = bearer(hub_state, "test-agency")
    listed = (await api.get("/v1/consents", headers=agency)).json()["consents"]
    assert consent_id not in {c["consent_id"] for c in listed}
    lookup = {
        "document_type": "resident_registration_abstract",
        "view": "basic",
        "purpose": "loan-screening",
        "basis": {"consent_id": consent_id},
    }
    refused = await api.post("/v1/lookups", json=lookup, headers=agency)
    assert refused.status_code == 404 and refused.json()["type"] == "/problems/consent-not-found"

    body = {
        "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
        "purpose": {"code": "kyc"},
        "redirect_uri": "https://bank.test/callback",
    }
    request = (await api.post("/v1/consent-requests", json=body, headers=bearer(hub_state))).json()
    assert (await api.get(f"/v1/consent-requests/{request['request_id']}", headers=agency)).status_code == 404


async def test_officials_and_residents_never_reach_each_others_sessions_or_documents(
    pages: Any, hub_state: HubState, backend: Backend
) -> None:
    _, client = pages
    who = await callers(hub_state)
    # Official X opens a counter session; official Y asks for it.
    x_cookie = who[OFF_X].cookie
    assert x_cookie is not None
    client.cookies.set(SESSION_COOKIE, x_cookie, domain="hub.test")
    opened = await client.post(
        "/counter",
        data={"csrf": _csrf(hub_state, x_cookie), "documents": "resident_registration_abstract:basic"},
    )
    assert opened.status_code == 303, opened.text
    session_path = opened.headers["location"].split("?")[0]
    y = await _call(client, hub_state, "GET", session_path, who[OFF_Y])
    assert y.status_code == 404
    status = await _call(client, hub_state, "GET", f"{session_path}/status", who[OFF_Y])
    assert status.status_code == 404

    # A resident's own e-document (resident2: other tests count resident0's): nobody else downloads it.
    owner = account_bearer(hub_state, "resident2")
    owner_caller = Caller(owner, owner["Authorization"].split(" ", 1)[1])
    resident = backend.residents[2]["resident_number"].replace("-", "")
    async with transaction(hub_state.sessions) as session:
        issued = await hub_state.issuance.issue_own(
            session,
            account_actor(hub_state.tokens.verify_account(owner_caller.cookie or "")),
            resident,
            "resident_registration_abstract",
            "basic",
            "matrix-test",
        )
    number = issued.issuance_number
    own = await _call(client, hub_state, "GET", f"/me/documents/{number}/pdf", owner_caller)
    assert own.status_code == 200
    for role, path in (
        (RES_A, f"/me/documents/{number}/pdf"),
        (RES_B, f"/me/documents/{number}/pdf"),
        (OFF_X, f"/counter/issuances/{number}/pdf"),
        (BANK, f"/v1/issuances/{number}/pdf"),
        (AGENCY, f"/v1/issuances/{number}/pdf"),
    ):
        response = await _call(client, hub_state, "GET", path, who[role])
        assert response.status_code == 404, (role, path, response.status_code)
