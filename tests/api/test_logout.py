"""Signing out means it (issue 16, point 10): POST with CSRF, and the token is refused afterwards everywhere.

Also: a mandate grant answers an unknown user name exactly as it answers a name that cannot be an agent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, account_bearer
from tests.helpers.pages import CSRF, browsers, sign_in
from tests.helpers.problems import assert_problem

__all__ = ["browsers"]  # the fixture, re-exported for pytest

pytestmark = pytest.mark.anyio


async def test_logout_is_not_a_get(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/logout"), 405, "method-not-allowed")


async def test_the_page_sign_out_needs_the_csrf_token_and_kills_the_cookie(browsers) -> None:  # type: ignore[no-untyped-def]
    desk, phone = browsers
    signed_in = await sign_in(phone, "resident0", "resident0-pw", "/me")
    assert signed_in.status_code == 303
    cookie = phone.cookies["gy_session"]
    me = await phone.get("/me")
    token = CSRF.search(me.text)
    assert me.status_code == 200 and token and 'action="/logout"' in me.text

    assert_problem(await phone.post("/logout"), 403, "csrf-failed")
    assert_problem(await phone.post("/logout", data={"csrf": "forged"}), 403, "csrf-failed")
    assert (await phone.get("/me")).status_code == 200, "a refused sign-out leaves the session alone"

    out = await phone.post("/logout", data={"csrf": token.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await phone.get("/me")).status_code == 303

    # A copy of the old cookie (kept by an attacker, or a browser that ignored the deletion) is worthless.
    desk.cookies.set("gy_session", cookie, domain="hub.test")
    replay = await desk.get("/me")
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
    assert_problem(
        await desk.get("/v1/me/consents", headers={"Authorization": f"Bearer {cookie}"}), 401, "invalid-token"
    )


async def test_without_a_session_sign_out_just_goes_to_the_sign_in_page(api: httpx.AsyncClient) -> None:
    out = await api.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"


async def test_the_api_sign_out_denies_a_bearer_token_until_it_expires(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    login = await api.post("/v1/auth/login", json={"username": "resident1", "password": "resident1-pw"})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await api.get("/v1/me/consents", headers=headers)).status_code == 200
    out = await api.post("/v1/auth/logout", headers=headers)
    assert out.status_code == 204 and out.headers["cache-control"] == "no-store"
    assert_problem(await api.get("/v1/me/consents", headers=headers), 401, "invalid-token")
    assert_problem(await api.post("/v1/auth/logout", headers=headers), 401, "invalid-token")
    assert_problem(await api.post("/v1/auth/logout"), 401, "unauthorized")
    # Another token of the same account is not affected.
    assert (
        await api.get("/v1/me/consents", headers=account_bearer(hub_state, "resident1"))
    ).status_code == 200


async def test_a_client_token_can_be_signed_out_too(api: httpx.AsyncClient) -> None:
    token = await api.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=("test-bank", "test-bank-secret")
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await api.post("/v1/auth/logout", headers=headers)).status_code == 204
    assert_problem(await api.get("/v1/consents", headers=headers), 401, "invalid-token")


async def test_a_mandate_to_an_unknown_name_looks_like_one_to_a_name_that_cannot_be_an_agent(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    def grant(agent: str) -> dict[str, object]:
        return {
            "agent_username": agent,
            "document_types": ["resident_registration_abstract"],
            "expires_at": expires,
        }

    principal = account_bearer(hub_state, "resident0")
    answers = []
    for agent in ("no-such-person", "official", "auditor"):
        response = await api.post("/v1/me/mandates", json=grant(agent), headers=principal)
        body = assert_problem(response, 404, "agent-not-found")
        answers.append((response.status_code, {k: v for k, v in body.items() if k != "instance"}))
    assert answers[0] == answers[1] == answers[2]
