"""Inputs schemathesis found turning into 5xx: each now gets a clear 4xx problem+json on both databases.

Two classes: U+0000 in any text (PostgreSQL text cannot store it, so it failed at the database or the audit
append) and times at the edge of the representable range (they overflowed once converted to UTC).
"""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, account_bearer, bearer, lookup_body
from tests.helpers.problems import assert_problem, audited

pytestmark = pytest.mark.anyio


def _json(payload: object) -> dict[str, object]:
    # httpx's json= would escape the NUL the same way; spelled out so the wire bytes are obvious.
    return {"content": json.dumps(payload).encode(), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize("field", ["document_type", "view", "purpose_text"])
async def test_nul_in_a_lookup_body_is_an_audited_422(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, field: str
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"])
    if field == "purpose_text":
        body["purpose"] = {"code": "loan-screening", "text": "mortgage\x00"}
    else:
        body[field] = f"{body[field]}\x00"
    request = _json(body)
    response = await api.post(
        "/v1/lookups", content=request["content"], headers={**request["headers"], **bearer(hub_state)}
    )
    problem = assert_problem(response, 422, "validation-error")
    assert "string_nul" in problem["detail"]
    row = audited(backend, problem)
    assert (row["outcome"], row["reason"]) == ("invalid", "malformed_request")


async def test_nul_in_a_consent_request_is_422(api: httpx.AsyncClient, hub_state: HubState) -> None:
    body = {
        "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
        "purpose": {"code": "loan-screening", "text": "mortgage\x00"},
        "redirect_uri": "https://bank.test/callback",
        "state": "abc",
    }
    response = await api.post("/v1/consent-requests", json=body, headers=bearer(hub_state))
    problem = assert_problem(response, 422, "validation-error")
    assert "string_nul" in problem["detail"]


async def test_escaped_backslash_before_u0000_is_not_a_nul(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    # JSON "\\u0000" is a backslash and the text u0000: harmless, so it reaches ordinary validation.
    body = (
        b'{"documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],'
        b' "purpose": {"code": "loan-screening"}, "redirect_uri": "https://bank.test/callback",'
        b' "state": "a\\\\u0000"}'
    )
    response = await api.post(
        "/v1/consent-requests",
        content=body,
        headers={"Content-Type": "application/json", **bearer(hub_state)},
    )
    assert response.status_code == 201, response.text


async def test_nul_in_login_username_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/auth/login", json={"username": "auditor\x00", "password": "x"})
    assert_problem(response, 422, "validation-error")


async def test_nul_in_basic_client_id_is_401(api: httpx.AsyncClient) -> None:
    credentials = base64.b64encode(b"test-bank%00:test-bank-secret").decode()
    response = await api.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert_problem(response, 401, "invalid-client")


async def test_nul_in_a_query_parameter_is_422(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.get(
        "/v1/audit/export/manifest?org=Test%00Bank", headers=account_bearer(hub_state, "auditor")
    )
    problem = assert_problem(response, 422, "validation-error")
    assert "query" in problem["detail"]


async def test_nul_in_a_path_parameter_is_422(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.get("/v1/consent-requests/a%00b", headers=bearer(hub_state))
    assert_problem(response, 422, "validation-error")


async def test_nul_in_a_web_form_is_422(api: httpx.AsyncClient) -> None:
    page = await api.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"username": "resident0\x00", "password": "x", "csrf": csrf.group(1)}
    problem = assert_problem(await api.post("/login", data=form), 422, "validation-error")
    assert "string_nul" in problem["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01T00:00:00%2B14:00",  # before the first instant once in UTC
        "to=9999-12-31T23:59:59-14:00",  # after the last one
    ],
)
@pytest.mark.parametrize("path", ["/v1/audit/export", "/v1/audit/export/manifest", "/v1/audit/anomalies"])
async def test_audit_times_out_of_range_in_utc_are_422(
    api: httpx.AsyncClient, hub_state: HubState, path: str, query: str
) -> None:
    response = await api.get(f"{path}?{query}", headers=account_bearer(hub_state, "auditor"))
    assert_problem(response, 422, "validation-error")


async def test_anomalies_to_on_the_first_day_is_400(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.get(
        "/v1/audit/anomalies?to=0001-01-01T00:00:00Z", headers=account_bearer(hub_state, "auditor")
    )
    assert_problem(response, 400, "bad-range")


async def test_anomalies_time_without_offset_is_utc(api: httpx.AsyncClient, hub_state: HubState) -> None:
    # Was a 500: a naive ``from`` compared with the aware default ``to``.
    response = await api.get(
        "/v1/audit/anomalies?from=2030-01-01T00:00:00", headers=account_bearer(hub_state, "auditor")
    )
    assert_problem(response, 400, "bad-range")  # from is after now: a range error, not a crash
    response = await api.get(
        "/v1/audit/anomalies?from=2020-01-01T00:00:00&to=2020-01-02T00:00:00",
        headers=account_bearer(hub_state, "auditor"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["since"].startswith("2020-01-01T00:00:00")


async def test_access_log_time_out_of_range_is_422(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.get(
        "/v1/me/access-log?to=9999-12-31T23:59:59-14:00", headers=account_bearer(hub_state, "resident0")
    )
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_mandate_expiry_out_of_range_is_422(
    api: httpx.AsyncClient, hub_state: HubState, expires_at: str
) -> None:
    body = {
        "agent_username": "resident1",
        "document_types": ["resident_registration_abstract"],
        "expires_at": expires_at,
    }
    response = await api.post("/v1/me/mandates", json=body, headers=account_bearer(hub_state, "resident0"))
    assert_problem(response, 422, "validation-error")
