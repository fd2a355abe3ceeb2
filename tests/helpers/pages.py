"""Driving the HTML pages like a browser: the login form with its CSRF token, and cookie-keeping clients.

``browsers`` is a fixture: a test module imports it by name (``from tests.helpers.pages import browsers``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from hub.app import create_app
from hub.state import HubState
from tests.conftest import Backend

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(
    browser: httpx.AsyncClient, username: str, password: str, next_path: str = "/"
) -> httpx.Response:
    page = await browser.get("/login", params={"next": next_path})
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    token = CSRF.search(page.text)
    assert token
    return await browser.post(
        "/login", data={"username": username, "password": password, "csrf": token.group(1), "next": next_path}
    )


@asynccontextmanager
async def open_browsers(
    state: HubState, backend: Backend, count: int
) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """``count`` cookie-keeping clients on one running app: a desk, a phone, an intruder, a bank..."""
    app = create_app(backend.settings, state=state)
    async with LifespanManager(app) as manager, AsyncExitStack() as stack:
        transport = httpx.ASGITransport(app=manager.app)
        yield tuple(
            [
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://hub.test")
                )
                for _ in range(count)
            ]
        )


@pytest.fixture
async def browsers(hub_state: HubState, backend: Backend):  # type: ignore[no-untyped-def]
    async with open_browsers(hub_state, backend, 2) as (desk, phone):
        yield desk, phone
