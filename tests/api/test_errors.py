"""One test per refusal: each gets its problem type, status and audit event, and never a 500."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event

from hub.app import create_app
from hub.auth.tokens import TokenService
from hub.keys import SigningKey
from hub.settings import Settings
from hub.state import HubState, build_state
from tests.conftest import Backend, audit_rows, bearer, lookup_body
from tests.helpers.problems import assert_problem, audited

pytestmark = pytest.mark.anyio


async def test_missing_token_is_401(api: httpx.AsyncClient, backend: Backend) -> None:
    response = await api.post("/v1/lookups", json=lookup_body(backend.residents[0]["resident_number"]))
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_token_is_401(api: httpx.AsyncClient, hub_state: HubState, backend: Backend) -> None:
    stale = TokenService(
        hub_state.keys.token_key,
        issuer=backend.settings.public_url,
        audience=backend.settings.token_audience,
        ttl_seconds=-120,
    )
    token = stale.issue("test-bank", "bank", "Test Bank", ["KR-FTRA-5-2"])
    response = await api.post(
        "/v1/lookups",
        json=lookup_body(backend.residents[0]["resident_number"]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(response, 401, "token-expired")


async def test_forged_token_is_401(api: httpx.AsyncClient, hub_state: HubState, backend: Backend) -> None:
    # Same kid, different key: only the signature can tell it apart.
    forger = TokenService(
        SigningKey(Ed25519PrivateKey.generate(), hub_state.keys.token_key.kid),
        issuer=backend.settings.public_url,
        audience=backend.settings.token_audience,
        ttl_seconds=300,
    )
    token = forger.issue("test-bank", "bank", "Test Bank", ["KR-FTRA-5-2", "KR-RRA-29-2-1"])
    response = await api.post(
        "/v1/lookups",
        json=lookup_body(backend.residents[0]["resident_number"]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(response, 401, "invalid-token")


async def test_unsigned_token_is_401(api: httpx.AsyncClient, backend: Backend) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"sub":"test-bank","kind":"bank"}').rstrip(b"=").decode()
    response = await api.post(
        "/v1/lookups",
        json=lookup_body(backend.residents[0]["resident_number"]),
        headers={"Authorization": f"Bearer {header}.{claims}."},
    )
    assert_problem(response, 401, "invalid-token")


async def test_statute_the_client_does_not_hold_is_403_and_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], statute="KR-RRA-29-2-2")
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    problem = assert_problem(response, 403, "basis-not-allowed")
    assert problem["reason"] == "statute_not_granted"
    row = audited(backend, problem)
    assert (row["outcome"], row["reason"], row["fields"]) == ("denied", "statute_not_granted", [])


async def test_view_the_statute_does_not_cover_is_403(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], view="with_address_history")
    problem = assert_problem(
        await api.post("/v1/lookups", json=body, headers=bearer(hub_state)), 403, "basis-not-allowed"
    )
    assert problem["reason"] == "view_not_allowed"


async def test_statute_for_another_client_kind_is_403(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    # test-bank holds KR-RRA-29-2-1 but the spec grants that statute to agencies only.
    body = lookup_body(backend.residents[0]["resident_number"], statute="KR-RRA-29-2-1")
    problem = assert_problem(
        await api.post("/v1/lookups", json=body, headers=bearer(hub_state)), 403, "basis-not-allowed"
    )
    assert problem["reason"] == "client_kind_not_allowed"


async def test_unknown_document_type_is_404(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], document_type="marriage_certificate_of_mars")
    problem = assert_problem(
        await api.post("/v1/lookups", json=body, headers=bearer(hub_state)), 404, "unknown-document-type"
    )
    assert audited(backend, problem)["outcome"] == "invalid"


async def test_unknown_view_is_404(api: httpx.AsyncClient, hub_state: HubState, backend: Backend) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], view="everything")
    assert_problem(await api.post("/v1/lookups", json=body, headers=bearer(hub_state)), 404, "unknown-view")


async def test_unknown_subject_is_404_and_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body("010101-9000008")
    problem = assert_problem(
        await api.post("/v1/lookups", json=body, headers=bearer(hub_state)), 404, "subject-not-found"
    )
    row = audited(backend, problem)
    assert (row["outcome"], row["reason"]) == ("not_found", "subject_not_found")
    assert row["subject_commitment"] and len(str(row["subject_commitment"])) == 64


@pytest.mark.parametrize("payload", [b"{", b"[]", b'{"document_type": 3}', b"\xff\xfe", b""])
async def test_malformed_body_is_422(api: httpx.AsyncClient, hub_state: HubState, payload: bytes) -> None:
    headers = {**bearer(hub_state), "Content-Type": "application/json"}
    problem = assert_problem(
        await api.post("/v1/lookups", content=payload, headers=headers), 422, "validation-error"
    )
    assert "audit_event_id" in problem


@pytest.mark.parametrize(
    "number", ["12345", "901301-1234567", "900230-1234567", "90010a-1234567", "9001011234567890"]
)
async def test_malformed_resident_number_is_422(
    api: httpx.AsyncClient, hub_state: HubState, number: str
) -> None:
    response = await api.post("/v1/lookups", json=lookup_body(number), headers=bearer(hub_state))
    assert_problem(response, 422, "invalid-resident-number")
    assert number not in response.text


async def test_resident_number_in_purpose_text_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"])
    body["purpose"] = {"code": "kyc", "text": f"고객 {backend.residents[1]['resident_number']} 확인"}
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    assert_problem(response, 422, "validation-error")
    assert backend.residents[1]["resident_number"] not in response.text


async def _client_for(state: HubState, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, state=state)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://hub.test"
        ) as c:
            yield c


async def test_agency_down_is_503_naming_the_agency(backend: Backend, tmp_path: Any) -> None:
    dead = (
        f"sqlite+aiosqlite:///{tmp_path}/missing/dir/agency.db"
        if backend.name == "sqlite"
        else "postgresql+asyncpg://root@127.0.0.1:1/nowhere"
    )
    settings = backend.settings.model_copy(update={"agency_database_urls": {"mois": dead}})
    state = build_state(settings)
    try:
        async for api in _client_for(state, settings):
            response = await api.post(
                "/v1/lookups",
                json=lookup_body(backend.residents[0]["resident_number"]),
                headers={**bearer(state), "Accept-Language": "en"},
            )
            problem = assert_problem(response, 503, "agency-unavailable")
            assert "'mois'" in problem["detail"]
            assert audited(backend, problem)["outcome"] == "agency_error"
            ready = await api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["agency:mois"].startswith("error:")
    finally:
        await state.close()


async def test_slow_agency_is_cut_off_by_its_timeout(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = backend.settings.model_copy(update={"agency_timeout_seconds": 0.2})
    state = build_state(settings)
    adapter: Any = state.adapters["mois"]

    async def hang(*_: Any) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(adapter, "_run", hang)
    try:
        async for api in _client_for(state, settings):
            loop = asyncio.get_running_loop()
            started = loop.time()
            response = await api.post(
                "/v1/lookups",
                json=lookup_body(backend.residents[0]["resident_number"]),
                headers=bearer(state),
            )
            assert loop.time() - started < 2
            problem = assert_problem(response, 503, "agency-unavailable")
            assert audited(backend, problem)["reason"] == "timeout"
    finally:
        await state.close()


async def test_failed_audit_append_returns_503_and_no_data(hub_state: HubState, backend: Backend) -> None:
    """Fail closed: the insert itself fails in the database driver, and nothing of the record leaves."""
    before = len(audit_rows(backend))
    resident = backend.residents[0]

    def refuse_audit_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO AUDIT_EVENTS" in statement.upper():  # alone, or joined with its notices (a CTE)
            raise RuntimeError("disk full")

    # On PostgreSQL the lookup's append goes to asyncpg directly (audit.direct): refuse it there too.
    fetchval = asyncpg.Connection.fetchval

    async def refusing_fetchval(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        refuse_audit_insert(None, None, query)
        return await fetchval(self, query, *args, **kwargs)

    event.listen(hub_state.engine.sync_engine, "before_cursor_execute", refuse_audit_insert)
    try:
        with patch.object(asyncpg.Connection, "fetchval", refusing_fetchval):
            async for api in _client_for(hub_state, backend.settings):
                response = await api.post(
                    "/v1/lookups", json=lookup_body(resident["resident_number"]), headers=bearer(hub_state)
                )
    finally:
        event.remove(hub_state.engine.sync_engine, "before_cursor_execute", refuse_audit_insert)
    assert_problem(response, 503, "audit-unavailable")
    assert "fields" not in response.json()
    assert resident["name_ko"] not in response.text
    assert len(audit_rows(backend)) == before


async def test_detail_follows_accept_language(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], document_type="nope")
    english = await api.post(
        "/v1/lookups", json=body, headers={**bearer(hub_state), "Accept-Language": "en-GB,en;q=0.8"}
    )
    korean = await api.post(
        "/v1/lookups", json=body, headers={**bearer(hub_state), "Accept-Language": "ko-KR"}
    )
    assert english.json()["detail"] == "There is no document type 'nope'."
    assert korean.json()["detail"] == "'nope' 문서 종류가 없습니다."
    assert english.headers["content-language"] == "en"


async def test_unknown_route_and_wrong_method_are_problems(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(await api.get("/v1/lookups"), 405, "method-not-allowed")


async def test_token_endpoint_issues_a_token_for_valid_credentials(
    api: httpx.AsyncClient, backend: Backend
) -> None:
    response = await api.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=("test-bank", "test-bank-secret")
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == backend.settings.token_ttl_seconds
    assert response.headers["cache-control"] == "no-store"
    lookup = await api.post(
        "/v1/lookups",
        json=lookup_body(backend.residents[0]["resident_number"]),
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert lookup.status_code == 200


@pytest.mark.parametrize("auth", [("test-bank", "wrong"), ("nobody", "test-bank-secret"), None])
async def test_token_endpoint_refuses_bad_credentials(
    api: httpx.AsyncClient, auth: tuple[str, str] | None
) -> None:
    response = await api.post("/v1/auth/token", data={"grant_type": "client_credentials"}, auth=auth)
    body = assert_problem(response, 401, "invalid-client")
    assert body["error"] == "invalid_client"


async def test_token_endpoint_refuses_other_grants(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/auth/token", data={"grant_type": "password"}, auth=("test-bank", "test-bank-secret")
    )
    assert_problem(response, 400, "unsupported-grant-type")
