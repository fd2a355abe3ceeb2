"""Response headers (issue 16, point 10): no caching of anything personal, and forms posted to the hub only.

``Cache-Control: no-store`` is the default of every response (hub/security_headers.py explains why the rule
is inverted); a route opts out only by setting its own ``Cache-Control``, and ``/static`` is left cacheable.
HSTS belongs to production (tests/api/test_production_mode.py); development and test never send it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.security_headers import SecurityHeadersMiddleware
from hub.state import HubState
from hub.web.render import CSP, page_csp
from tests.conftest import account_bearer, bearer

pytestmark = pytest.mark.anyio


async def test_personal_json_is_not_stored(api: httpx.AsyncClient, hub_state: HubState) -> None:
    mine = await api.get("/v1/me/consents", headers=account_bearer(hub_state, "resident0"))
    assert mine.status_code == 200
    assert mine.headers["cache-control"] == "no-store"
    assert mine.headers["x-content-type-options"] == "nosniff"
    access_log = await api.get("/v1/me/access-log", headers=account_bearer(hub_state, "resident0"))
    assert access_log.headers["cache-control"] == "no-store"
    consents = await api.get("/v1/consents", headers=bearer(hub_state))
    assert consents.headers["cache-control"] == "no-store"


async def test_problems_and_public_answers_are_not_stored_either(api: httpx.AsyncClient) -> None:
    for path in ("/v1/me/consents", "/v1/documents", "/readyz", "/v1/no-such-route"):
        response = await api.get(path)
        assert response.headers["cache-control"] == "no-store", path


async def test_html_pages_are_not_stored(api: httpx.AsyncClient) -> None:
    for path in ("/login", "/me", "/counter", "/audit"):
        response = await api.get(path)
        assert response.headers["cache-control"] == "no-store", path


async def test_static_files_stay_cacheable_and_no_hsts_outside_production(api: httpx.AsyncClient) -> None:
    css = await api.get("/static/gongyu.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
    for path in ("/healthz", "/login", "/static/gongyu.css"):
        assert "strict-transport-security" not in (await api.get(path)).headers


async def test_forms_post_to_the_hub_only(api: httpx.AsyncClient) -> None:
    page = await api.get("/login")
    policy = page.headers["content-security-policy"]
    assert "form-action 'self';" in policy
    assert policy == CSP
    assert "http:" not in policy and "https:" not in policy


def _request(production: bool) -> Request:
    app = Starlette()
    app.state.hub = SimpleNamespace(settings=SimpleNamespace(is_production=production))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "app": app})


def test_only_the_consent_decision_may_redirect_a_form_to_the_bank() -> None:
    """Its 303 goes to the bank's registered redirect URI, and browsers apply form-action to redirects."""
    assert page_csp(_request(False), "login.html") == CSP
    assert "form-action 'self' http: https:;" in page_csp(_request(False), "consent.html")
    assert "form-action 'self' https:;" in page_csp(_request(True), "consent.html")  # production: https only


async def test_a_route_that_sets_its_own_cache_control_keeps_it() -> None:
    async def public(request: Request) -> Response:
        return PlainTextResponse("checkpoint", headers={"Cache-Control": "no-cache"})

    async def streamed(request: Request) -> Response:
        async def body() -> Any:
            yield b"a,"
            yield b"b"

        return StreamingResponse(body(), media_type="text/csv")

    app = SecurityHeadersMiddleware(
        Starlette(routes=[Route("/public", public), Route("/export", streamed)]), production=True
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        public_answer = await client.get("/public")
        assert public_answer.headers["cache-control"] == "no-cache"
        export = await client.get("/export")
        assert export.text == "a,b"
        assert export.headers["cache-control"] == "no-store"
        assert export.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
