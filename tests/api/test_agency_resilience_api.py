"""An agency that stops answering, for each adapter kind: timeout, bounded retries, then the breaker.

Each case goes through the hub (POST /v1/lookups): 503 problem+json naming the agency within its deadline,
audited as agency_error with a stable reason, and after the breaker opens, immediate refusals without
asking the agency at all; /readyz says ``circuit_open`` for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.sandbox.synthetic import format_resident_number
from hub.app import create_app
from hub.settings import Settings
from hub.state import HubState, build_adapters, build_state
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio

TIMEOUT = 0.3
# adapter kind -> (agency, document type, view, statute)
KINDS = {
    "sql": ("localtax", "local_tax_payment_certificate", "basic", "KR-EGA-36-2"),
    "soap": ("court", "basic_certificate", "general", "KR-FRRA-14-1-1"),
    "rest": ("nts", "income_amount_certificate", "summary", "KR-FBTA-81-13-1"),
}


def _settings(backend: Backend) -> Settings:
    return backend.settings.model_copy(
        update={
            "agency_timeout_seconds": TIMEOUT,
            "agency_retries": 2,
            "agency_backoff_seconds": 0.01,
            "agency_breaker_threshold": 2,
            "agency_breaker_cooldown_seconds": 60.0,
        }
    )


async def _client(state: HubState, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, state=state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


def _broken_state(
    backend: Backend, kind: str, behaviour: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[HubState, Settings]:
    """A hub whose agency for ``kind`` behaves as ``behaviour`` (an async callable) on every request."""
    settings = _settings(backend)
    agency = KINDS[kind][0]
    if kind == "sql":
        state = build_state(settings)

        async def run(*_: Any) -> Any:
            return await behaviour()

        monkeypatch.setattr(state.adapters[agency], "_run", run)
        return state, settings

    async def handler(request: httpx.Request) -> httpx.Response:
        await behaviour()
        return httpx.Response(500)

    adapters = build_adapters(settings, transport=httpx.MockTransport(handler))
    return build_state(settings, adapters=adapters), settings


async def _lookup(api: httpx.AsyncClient, state: HubState, backend: Backend, kind: str) -> httpx.Response:
    _, document_type, view, statute = KINDS[kind]
    number = format_resident_number(backend.residents[0]["resident_number"])
    return await api.post(
        "/v1/lookups",
        json=lookup_body(number, document_type, view, statute),
        headers={**bearer(state, "test-agency"), "Accept-Language": "en"},
    )


def _audited_reason(backend: Backend, response: httpx.Response) -> tuple[Any, Any]:
    body = response.json()
    row = next(r for r in audit_rows(backend) if r["event_id"] == body["audit_event_id"])
    return row["outcome"], row["reason"]


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_silent_agency_times_out_then_the_breaker_fails_fast(
    backend: Backend, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(30)

    state, settings = _broken_state(backend, kind, hang, monkeypatch)
    agency = KINDS[kind][0]
    loop = asyncio.get_running_loop()
    try:
        async for api in _client(state, settings):
            for _ in range(2):  # breaker threshold
                started = loop.time()
                response = await _lookup(api, state, backend, kind)
                assert loop.time() - started < TIMEOUT + 0.4, "cut off by the agency's deadline"
                assert response.status_code == 503, response.text
                problem = response.json()
                assert problem["type"] == "/problems/agency-unavailable"
                assert f"'{agency}'" in problem["detail"]
                assert _audited_reason(backend, response) == ("agency_error", "timeout")
            asked = calls
            started = loop.time()
            response = await _lookup(api, state, backend, kind)
            assert loop.time() - started < 0.2, "an open breaker answers at once"
            assert response.status_code == 503
            assert _audited_reason(backend, response) == ("agency_error", "circuit_open")
            assert calls == asked, "an open breaker does not ask the agency"
            ready = await api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"][f"agency:{agency}"] == "error:circuit_open"
    finally:
        await state.close()


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_refused_connections_are_retried_a_bounded_number_of_times(
    backend: Backend, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def refuse() -> None:
        nonlocal calls
        calls += 1
        if kind == "sql":
            raise ConnectionRefusedError(111, "Connection refused")
        raise httpx.ConnectError("connection refused")

    state, settings = _broken_state(backend, kind, refuse, monkeypatch)
    try:
        async for api in _client(state, settings):
            response = await _lookup(api, state, backend, kind)
            assert response.status_code == 503, response.text
            assert _audited_reason(backend, response) == ("agency_error", "unavailable")
            assert calls == 3, "one attempt and two retries"
            assert "refused" not in response.text.lower(), "no driver or transport message leaks"
    finally:
        await state.close()


async def test_agency_that_recovers_is_asked_again_after_the_cooldown(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half-open: once the cool-down is over, one lookup goes through and closes the circuit."""
    failing = True

    async def flaky() -> None:
        if failing:
            raise httpx.ConnectError("down")

    settings = _settings(backend).model_copy(update={"agency_breaker_cooldown_seconds": 0.2})

    async def handler(request: httpx.Request) -> httpx.Response:
        await flaky()
        return httpx.Response(404, json={"error": "not_found"})

    state = build_state(settings, adapters=build_adapters(settings, transport=httpx.MockTransport(handler)))
    try:
        async for api in _client(state, settings):
            for _ in range(2):
                assert (await _lookup(api, state, backend, "rest")).status_code == 503
            assert _audited_reason(backend, await _lookup(api, state, backend, "rest"))[1] == "circuit_open"
            failing = False
            await asyncio.sleep(0.25)
            response = await _lookup(api, state, backend, "rest")
            assert response.status_code == 404, "the trial call reached the agency"
            assert state.adapters["nts"].breaker.state == "closed"  # type: ignore[attr-defined]
    finally:
        await state.close()
