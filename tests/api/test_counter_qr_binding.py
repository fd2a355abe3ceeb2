"""A counter QR request is bound to the phone that opened its link, and then to the resident seen there.

Anyone near the desk can see the QR code. Whoever opens the link first gets the request bound to their
browser; another browser (even signed in as a resident, even with a valid CSRF token) is refused 403 on the
page and on the decision, through the API too, and the request stays pending for the phone that opened it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from hub.state import HubState
from hub.web import session
from hub.web.pages import BINDING_COOKIE
from tests.conftest import Backend, account_bearer
from tests.helpers.audit_faults import scalar
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
DOCUMENT = "resident_registration_abstract:basic"
ELSEWHERE = "only be approved or denied there"  # the English page text of ``opened_elsewhere``
Browsers = tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
async def desk_phone_intruder(hub_state: HubState, backend: Backend) -> AsyncIterator[Browsers]:
    async with open_browsers(hub_state, backend, 3) as (desk, phone, intruder):
        assert (await sign_in(desk, "official", "official-pw", "/counter")).status_code == 303
        yield desk, phone, intruder


async def _open_session(desk: httpx.AsyncClient) -> tuple[str, str]:
    form = await desk.get("/counter")
    token = CSRF.search(form.text)
    assert token
    opened = await desk.post("/counter", data={"csrf": token.group(1), "documents": DOCUMENT})
    assert opened.status_code == 303, opened.text
    url = urlparse(opened.headers["location"])
    return url.path.rsplit("/", 1)[1], parse_qs(url.query)["t"][0]


def _csrf_for(state: HubState, browser: httpx.AsyncClient) -> str:
    """The CSRF token the browser's own session would get on any form (an attacker has their own)."""
    cookies = {session.SESSION_COOKIE: browser.cookies.get(session.SESSION_COOKIE) or ""}
    return session.csrf_token(state, SimpleNamespace(cookies=cookies))  # type: ignore[arg-type]


def _status(backend: Backend, request_id: str) -> str:
    return str(scalar(backend, "SELECT status FROM consent_requests WHERE request_id = :r", r=request_id))


async def test_only_the_phone_that_opened_the_link_can_view_and_decide(
    desk_phone_intruder: Browsers, hub_state: HubState, backend: Backend
) -> None:
    desk, phone, intruder = desk_phone_intruder
    request_id, token = await _open_session(desk)

    opened = await phone.get(f"/consent/{request_id}?t={token}")
    assert opened.status_code == 303
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{BINDING_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert f"Path=/consent/{request_id}" in cookie
    stored = scalar(
        backend, "SELECT opened_by_hash FROM consent_requests WHERE request_id = :r", r=request_id
    )
    assert stored and phone.cookies.get(BINDING_COOKIE) not in (None, stored), "only the hash is stored"

    # Someone who saw the QR code: the link is spent, and signing in as themselves does not help.
    assert (await intruder.get(f"/consent/{request_id}?t={token}")).status_code == 410
    await sign_in(intruder, "resident2", "resident2-pw", f"/consent/{request_id}")
    page = await intruder.get(f"/consent/{request_id}", params={"lang": "en"})
    assert page.status_code == 403 and ELSEWHERE in page.text and "<h1>" in page.text
    assert 'name="decision"' not in page.text, "no decision form"
    for decision in ("approve", "deny"):
        refused = await intruder.post(
            f"/consent/{request_id}",
            data={"decision": decision, "csrf": _csrf_for(hub_state, intruder)},
            params={"lang": "en"},
        )
        assert refused.status_code == 403 and ELSEWHERE in refused.text
    # A guessed or copied cookie value that is not the phone's is no better.
    intruder.cookies.set(BINDING_COOKIE, "guess", domain="hub.test", path=f"/consent/{request_id}")
    assert (await intruder.get(f"/consent/{request_id}")).status_code == 403
    assert _status(backend, request_id) == "pending"

    # Nor through the API with the intruder's own token.
    own_token = account_bearer(hub_state, "resident2")
    api_refused = await intruder.post(
        f"/v1/me/consent-requests/{request_id}/approve", json={}, headers=own_token
    )
    assert api_refused.status_code == 403
    assert api_refused.json()["type"] == "/problems/consent-request-bound-elsewhere"
    assert _status(backend, request_id) == "pending"

    # The phone that opened the link approves.
    await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    assert page.status_code == 200, page.text
    csrf = CSRF.search(page.text)
    assert csrf
    done = await phone.post(f"/consent/{request_id}", data={"decision": "approve", "csrf": csrf.group(1)})
    assert done.status_code == 200, done.text
    assert _status(backend, request_id) == "approved"
    assert (await desk.get(f"/counter/sessions/{request_id}/status")).json() == {"status": "approved"}


async def test_once_a_resident_viewed_it_on_the_phone_another_resident_there_cannot_decide(
    desk_phone_intruder: Browsers, hub_state: HubState, backend: Backend
) -> None:
    desk, phone, _ = desk_phone_intruder
    request_id, token = await _open_session(desk)
    assert (await phone.get(f"/consent/{request_id}?t={token}")).status_code == 303
    await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
    assert (await phone.get(f"/consent/{request_id}")).status_code == 200

    # Someone else signs in on the same phone (the binding cookie is still there): refused.
    await sign_in(phone, "resident2", "resident2-pw", f"/consent/{request_id}")
    assert (await phone.get(f"/consent/{request_id}")).status_code == 403
    refused = await phone.post(
        f"/consent/{request_id}", data={"decision": "approve", "csrf": _csrf_for(hub_state, phone)}
    )
    assert refused.status_code == 403
    assert _status(backend, request_id) == "pending"

    # The resident it is bound to can still deny it there.
    await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    csrf = CSRF.search(page.text)
    assert csrf
    done = await phone.post(f"/consent/{request_id}", data={"decision": "deny", "csrf": csrf.group(1)})
    assert done.status_code == 200
    assert _status(backend, request_id) == "denied"


async def test_a_link_never_opened_binds_nothing_and_cannot_be_decided(
    desk_phone_intruder: Browsers, hub_state: HubState, backend: Backend
) -> None:
    desk, _, intruder = desk_phone_intruder
    request_id, _ = await _open_session(desk)
    await sign_in(intruder, "resident2", "resident2-pw", f"/consent/{request_id}")
    assert (await intruder.get(f"/consent/{request_id}")).status_code == 403
    refused = await intruder.post(
        f"/consent/{request_id}", data={"decision": "approve", "csrf": _csrf_for(hub_state, intruder)}
    )
    assert refused.status_code == 403
    assert _status(backend, request_id) == "pending"
