"""Sign-in throttling and request limits (issue 16, point 2): SQLite and PostgreSQL, in memory and on Redis.

The numbers are the defaults of ``hub.ratelimit``: 5 failures per name or client id, 20 per address, a first
back-off of 1 s doubling from there; 30 anonymous verifications and 60 time-stamp requests a minute per
address.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from hub.app import create_app
from hub.auth.tokens import TokenService
from hub.ratelimit import Guard, RequestPolicy, SignInPolicy
from hub.state import HubState
from tests.conftest import Backend
from tests.helpers.pages import CSRF
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

POLICY = SignInPolicy()
REDIS_URL = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def running(hub_state: HubState, backend: Backend) -> AsyncIterator[FastAPI]:
    app = create_app(hub_state.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        yield manager.app  # type: ignore[misc]


def worker(hub_state: HubState, rate_limit_url: str) -> HubState:
    """Another worker of the same hub: its own settings and token service, the same keys and database."""
    settings = hub_state.settings.model_copy(update={"rate_limit_url": rate_limit_url})
    tokens = TokenService(
        hub_state.keys.token_key,
        issuer=settings.public_url,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl_seconds,
    )
    return dataclasses.replace(hub_state, settings=settings, tokens=tokens)


def client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub.test")


def _retry_after(response: httpx.Response) -> int:
    problem = assert_problem(response, 429, "too-many-attempts")
    seconds = int(response.headers["retry-after"])
    assert seconds >= 1 and str(seconds) in problem["detail"]
    return seconds


async def _login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/v1/auth/login", json={"username": username, "password": password})


async def test_forty_concurrent_wrong_passwords_get_429_while_the_hub_stays_responsive(
    hub_state: HubState, backend: Backend
) -> None:
    async with running(hub_state, backend) as app, client(app) as http:
        await http.get("/healthz")  # warm up
        stop = asyncio.Event()
        latencies: list[float] = []

        async def probe_health() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                assert (await http.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)

        prober = asyncio.create_task(probe_health())
        answers = await asyncio.gather(*(_login(http, "resident0", f"wrong-{i}") for i in range(40)))
        await asyncio.sleep(0.05)
        stop.set()
        await prober

    statuses = sorted(a.status_code for a in answers)
    refused = [a for a in answers if a.status_code == 429]
    # Only the first few (the limit, plus one probe) ever reach Argon2; the rest are refused at once.
    assert statuses.count(401) <= POLICY.per_name + 1, statuses
    assert len(refused) >= 40 - POLICY.per_name - 1, statuses
    for answer in refused:
        _retry_after(answer)
    assert latencies and max(latencies) < 0.25, f"/healthz took {max(latencies):.3f}s during the burst"


async def test_back_off_doubles_and_a_success_resets_it(hub_state: HubState, backend: Backend) -> None:
    async with running(hub_state, backend) as app, client(app) as http:
        for _ in range(POLICY.per_name - 1):
            assert (await _login(http, "resident1", "nope")).status_code == 401
        assert (await _login(http, "resident1", "resident1-pw")).status_code == 200, "under the limit"
        # The success cleared the record: the full allowance again, then 429.
        for _ in range(POLICY.per_name):
            assert (await _login(http, "resident1", "nope")).status_code == 401
        first = _retry_after(await _login(http, "resident1", "resident1-pw"))
        assert first == POLICY.first_backoff, "even the right password waits out the back-off"
        # Once it has run out, one more try; another failure doubles the wait.
        await asyncio.sleep(first + 0.1)
        assert (await _login(http, "resident1", "nope")).status_code == 401
        second = _retry_after(await _login(http, "resident1", "nope"))
        assert second == 2 * first
        await asyncio.sleep(second + 0.1)
        assert (await _login(http, "resident1", "resident1-pw")).status_code == 200
        for _ in range(POLICY.per_name - 1):  # reset again by that success
            assert (await _login(http, "resident1", "nope")).status_code == 401


async def test_the_token_endpoint_is_throttled_per_client_id(hub_state: HubState, backend: Backend) -> None:
    def basic(client_id: str, secret: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}

    form = {"grant_type": "client_credentials"}
    async with running(hub_state, backend) as app, client(app) as http:
        for _ in range(POLICY.per_name):
            wrong = await http.post("/v1/auth/token", data=form, headers=basic("test-bank", "wrong"))
            assert_problem(wrong, 401, "invalid-client")
        locked = await http.post("/v1/auth/token", data=form, headers=basic("test-bank", "test-bank-secret"))
        _retry_after(locked)
        other = await http.post(
            "/v1/auth/token", data=form, headers=basic("test-agency", "test-agency-secret")
        )
        assert other.status_code == 200, "another client is not affected"


async def test_one_address_trying_many_names_is_throttled_and_others_are_not(
    hub_state: HubState, backend: Backend
) -> None:
    async with (
        running(hub_state, backend) as app,
        client(app, "10.0.0.7") as sprayer,
        client(app, "10.0.0.8") as neighbour,
    ):
        for i in range(POLICY.per_address):
            assert (await _login(sprayer, f"nobody-{i}", "guess")).status_code == 401
        _retry_after(await _login(sprayer, "resident0", "resident0-pw"))
        assert (await _login(neighbour, "resident0", "resident0-pw")).status_code == 200


async def test_successes_do_not_count_at_the_address(hub_state: HubState, backend: Backend) -> None:
    async with running(hub_state, backend) as app, client(app, "10.0.0.9") as office:
        for _ in range(POLICY.per_address + 5):
            assert (await _login(office, "auditor", "auditor-pw")).status_code == 200


async def test_the_sign_in_page_answers_429_with_its_own_page(hub_state: HubState, backend: Backend) -> None:
    async with running(hub_state, backend) as app, client(app) as browser:
        page = await browser.get("/login")
        token = CSRF.search(page.text)
        assert token
        form = {"username": "resident2", "password": "nope", "csrf": token.group(1), "next": "/me"}
        for _ in range(POLICY.per_name):
            assert (await browser.post("/login", data=form)).status_code == 401
        refused = await browser.post("/login", data={**form, "password": "resident2-pw"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert int(refused.headers["retry-after"]) >= 1
        assert 'role="alert"' in refused.text and "gy_session" not in refused.headers.get("set-cookie", "")


async def test_anonymous_verify_and_the_tsa_are_limited_per_address(
    hub_state: HubState, backend: Backend
) -> None:
    policy = RequestPolicy()
    verify_limit = int(policy.verify_per_address.split("/")[0])
    tsa_limit = int(policy.tsa_per_address.split("/")[0])
    async with (
        running(hub_state, backend) as app,
        client(app, "10.0.1.1") as one,
        client(app, "10.0.1.2") as other,
    ):
        for _ in range(verify_limit):
            assert (await one.post("/v1/verify", json={"qr_payload": "GY1:nothing"})).status_code == 200
        refused = await one.post("/v1/verify", json={"qr_payload": "GY1:nothing"})
        assert_problem(refused, 429, "too-many-requests")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await other.post("/v1/verify", json={"qr_payload": "GY1:nothing"})).status_code == 200

        not_der = {"content-type": "application/timestamp-query"}
        for _ in range(tsa_limit):
            assert (await one.post("/tsa", content=b"\x30\x00", headers=not_der)).status_code != 429
        assert_problem(await one.post("/tsa", content=b"\x30\x00", headers=not_der), 429, "too-many-requests")
        assert (await other.post("/tsa", content=b"\x30\x00", headers=not_der)).status_code != 429


async def test_with_redis_the_workers_share_the_counts(hub_state: HubState, backend: Backend) -> None:
    # Two apps over one Redis stand for two workers; a fresh random name and address keep runs apart.
    name = f"nobody-{secrets.token_hex(6)}"
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    # A long first back-off: with the default 1 s a slow machine can let the lock run out between the fifth
    # failure on one worker and the next attempt on the other, which then passes as the probe.
    patient = SignInPolicy(first_backoff=120)
    apps = [create_app(hub_state.settings, state=worker(hub_state, REDIS_URL)) for _ in range(2)]
    async with LifespanManager(apps[0]) as first, LifespanManager(apps[1]) as second:
        for app in apps:
            app.state.guard = Guard.from_url(REDIS_URL, sign_in=patient)
        async with client(first.app, address) as one, client(second.app, address) as two:  # type: ignore[arg-type]
            for _ in range(POLICY.per_name):
                assert (await _login(one, name, "guess")).status_code == 401
            _retry_after(await _login(two, name, "guess"))


async def test_notice_codes_cannot_be_guessed_in_bulk_from_one_address(
    hub_state: HubState, backend: Backend
) -> None:
    limit = int(RequestPolicy().verify_per_address.split("/")[0])
    async with (
        running(hub_state, backend) as app,
        client(app, "10.0.2.1") as guesser,
        client(app, "10.0.2.2") as other,
    ):
        for _ in range(limit):
            answer = await guesser.post("/v1/notices/verify", json={"code": "AAAA-BBBB-CCCC"})
            assert answer.status_code == 200 and answer.json() == {"genuine": False}
        refused = await guesser.post("/v1/notices/verify", json={"code": "AAAA-BBBB-CCCC"})
        assert_problem(refused, 429, "too-many-requests")
        assert (await other.post("/v1/notices/verify", json={"code": "AAAA-BBBB-CCCC"})).status_code == 200


async def test_the_verify_page_is_limited_per_address_with_a_page_of_its_own(
    hub_state: HubState, backend: Backend
) -> None:
    limit = int(RequestPolicy().verify_per_address.split("/")[0])
    async with running(hub_state, backend) as app, client(app, "10.0.3.1") as browser:
        form = {"kind": "number", "number": "1000-0000-0000-0000"}
        for _ in range(limit):
            assert (await browser.post("/verify", data=form)).status_code != 429
        refused = await browser.post("/verify", data=form, headers={"Accept-Language": "en"})
        assert refused.status_code == 429 and refused.headers["content-type"].startswith("text/html")
        assert int(refused.headers["retry-after"]) >= 1
