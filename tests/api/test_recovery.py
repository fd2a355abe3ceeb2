"""Recovery (issue 16 point 13): after an agency or the database comes back, the hub serves again within 10 s.

The agency case runs a small concurrent lookup load against an agency that refuses connections for a few
seconds and then answers again, with the production breaker settings (threshold 5, 30 s cool-down): the
breaker's short first cool-down (1 s, doubling while the agency stays down) is what brings the lookups back
within seconds rather than after the configured 30 s. Every 200 must have its ``ok`` audit row and every 503
its ``agency_error`` row: fail closed while down, audited either way.

The database case (PostgreSQL) closes every pooled connection from the server side, as a restart does, and
expects the very next lookup to succeed: connections the server closed are replaced on checkout. Stopping
the whole PostgreSQL server is left to ``python -m loadtests.recovery``, which other tests must not share.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text

from hub.app import create_app
from hub.settings import Settings
from hub.state import HubState, build_state
from tests.conftest import PG_ADMIN_URL, Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio

RECOVERY_BUDGET_S = 10.0  # issue 16 point 13
DOWN_FOR_S = 2.5  # long enough for the breaker to open, fail one trial and wait a doubled cool-down
CONCURRENCY = 4


async def _client(state: HubState, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, state=state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


async def test_lookups_succeed_again_within_seconds_of_the_agency_returning(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production breaker settings: the recovery must not depend on a test-sized cool-down.
    settings = backend.settings.model_copy(
        update={"agency_breaker_threshold": 5, "agency_breaker_cooldown_seconds": 30.0}
    )
    state = build_state(settings)
    adapter: Any = state.adapters["mois"]
    real_run = adapter._run
    down = True

    async def flaky(*args: Any) -> Any:
        if down:
            raise ConnectionRefusedError(111, "Connection refused")
        return await real_run(*args)

    monkeypatch.setattr(adapter, "_run", flaky)
    loop = asyncio.get_running_loop()
    answers: list[tuple[float, float, int, dict[str, Any]]] = []  # sent, answered, status, body
    stop = asyncio.Event()

    async def load(api: httpx.AsyncClient) -> None:
        body = lookup_body(backend.residents[0]["resident_number"])
        while not stop.is_set():
            sent = loop.time()
            response = await api.post("/v1/lookups", json=body, headers=bearer(state))
            answers.append((sent, loop.time(), response.status_code, response.json()))
            await asyncio.sleep(0.02)

    try:
        async for api in _client(state, settings):
            workers = [asyncio.ensure_future(load(api)) for _ in range(CONCURRENCY)]
            await asyncio.sleep(DOWN_FOR_S)
            assert adapter.breaker.state != "closed", "the outage opened the breaker"
            down = False
            back_at = loop.time()
            while loop.time() - back_at < RECOVERY_BUDGET_S:
                if any(status == 200 for _, _, status, _ in answers):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # keep the load on after recovery: no relapse
            stop.set()
            await asyncio.gather(*workers)
    finally:
        await state.close()

    assert {status for _, _, status, _ in answers} <= {200, 503}
    assert not any(t < back_at and status == 200 for _, t, status, _ in answers), "nothing served while down"
    first_ok = min((t for _, t, status, _ in answers if status == 200), default=None)
    assert first_ok is not None, "never served again"
    recovered_in = first_ok - back_at
    assert recovered_in < RECOVERY_BUDGET_S, (
        f"served again only {recovered_in:.1f}s after the agency returned"
    )
    # With a 1 s first cool-down doubling once, the hub is back well inside the budget.
    assert recovered_in < 4.0, f"recovered in {recovered_in:.1f}s"
    # Lookups sent while the trial was in flight may still be refused (circuit_open); none sent after it.
    after = [status for sent, _, status, _ in answers if sent > first_ok]
    assert after and all(status == 200 for status in after), "every lookup after the first success is served"

    rows = {row["event_id"]: row for row in audit_rows(backend)}
    for _, _, status, body in answers:
        if status == 200:
            assert rows[body["audit"]["event_id"]]["outcome"] == "ok", "every 200 has its audit row"
        else:
            assert rows[body["audit_event_id"]]["outcome"] == "agency_error", "every refusal is audited"


def _terminate_connections(database: str) -> int:
    """What a PostgreSQL restart does to every client: FATAL 57P01, then a closed socket (ours spared)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).scalar_one()
            )
    finally:
        admin.dispose()


@pytest.mark.postgres
async def test_pooled_connections_closed_by_the_server_are_replaced_at_once(
    postgres_backend: Backend,
) -> None:
    backend = postgres_backend
    settings = backend.settings
    state = build_state(settings)
    hub_db = settings.effective_database_url.rsplit("/", 1)[1]
    agency_db = settings.agency_database_url("mois").rsplit("/", 1)[1]
    body = lookup_body(backend.residents[0]["resident_number"])
    try:
        async for api in _client(state, settings):
            # Fill both pools (the hub's and the agency's) with several connections each.
            warm = await asyncio.gather(
                *(api.post("/v1/lookups", json=body, headers=bearer(state)) for _ in range(8))
            )
            assert all(r.status_code == 200 for r in warm), [r.text for r in warm]
            assert state.engine.pool.checkedin() > 1  # type: ignore[attr-defined]
            closed = _terminate_connections(hub_db) + _terminate_connections(agency_db)
            assert closed >= 2
            await asyncio.sleep(0.3)  # the event loop reads the servers' goodbyes, as it would under load
            after = await asyncio.gather(
                *(api.post("/v1/lookups", json=body, headers=bearer(state)) for _ in range(8))
            )
            assert [r.status_code for r in after] == [200] * 8, [r.text for r in after]
            assert state.adapters["mois"].breaker.consecutive_failures == 0  # type: ignore[attr-defined]
            ready = await api.get("/readyz")
            assert ready.json()["checks"]["database"] == "ok"
    finally:
        await state.close()


@pytest.mark.postgres
async def test_readyz_names_a_database_that_is_down_and_the_agency_behind_it(
    postgres_backend: Backend,
) -> None:
    """A hub pointed at a PostgreSQL port nobody listens on: /readyz names the database and the agency."""
    dead = "postgresql+asyncpg://root@127.0.0.1:9/nowhere"
    live = postgres_backend.settings
    agencies = {name: live.agency_database_url(name) for name in live.agencies}
    # A new Settings rather than model_copy: the effective database URL is a cached property, and a copy
    # would keep the live one.
    settings = Settings(
        **{**live.model_dump(), "database_url": dead, "agency_database_urls": {**agencies, "mois": dead}}
    )
    state = build_state(settings)
    try:
        async for api in _client(state, settings):
            ready = await api.get("/readyz")
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert checks["database"] == "error:unavailable"
            assert checks["agency:mois"] == "error:unavailable"
            assert checks["agency:nts"] == "ok", "only what is down is named"
    finally:
        await state.close()
