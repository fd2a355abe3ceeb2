"""Counter session transitions commit with their audit event: opening a session, opening its QR link, and the
resident's decision on the phone page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend
from tests.helpers.audit_faults import audit_refuses, events_of, scalar
from tests.helpers.pages import CSRF, browsers, sign_in

pytestmark = pytest.mark.anyio
__all__ = ["browsers"]  # the fixture, re-exported for pytest
DOCUMENT = "resident_registration_abstract:basic"


async def _counter_form(desk: httpx.AsyncClient) -> str:
    form = await desk.get("/counter")
    assert form.status_code == 200
    token = CSRF.search(form.text)
    assert token
    return token.group(1)


async def _open(desk: httpx.AsyncClient) -> tuple[str, str]:
    opened = await desk.post("/counter", data={"csrf": await _counter_form(desk), "documents": DOCUMENT})
    assert opened.status_code == 303, opened.text
    url = urlparse(opened.headers["location"])
    return url.path.rsplit("/", 1)[1], parse_qs(url.query)["t"][0]


async def test_a_counter_session_is_not_opened_when_its_audit_event_cannot_be_written(
    browsers,
    hub_state: HubState,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    desk, _ = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    before = scalar(backend, "SELECT count(*) FROM consent_requests")
    csrf = await _counter_form(desk)
    with audit_refuses(hub_state, "consent_request"):
        refused = await desk.post("/counter", data={"csrf": csrf, "documents": DOCUMENT})
    assert refused.status_code == 503
    assert refused.json()["type"] == "/problems/audit-unavailable"
    assert scalar(backend, "SELECT count(*) FROM consent_requests") == before

    request_id, _ = await _open(desk)
    recorded = [e for e in events_of(backend, "consent_request") if e["basis"] == f"request:{request_id}"]
    assert [(e["actor_kind"], e["actor_org"]) for e in recorded] == [("official", "Test Office")]


async def test_a_qr_link_stays_unused_when_its_opening_cannot_be_audited(
    browsers,
    hub_state: HubState,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    desk, phone = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    request_id, token = await _open(desk)
    with audit_refuses(hub_state, "consent_link_opened"):
        refused = await phone.get(f"/consent/{request_id}?t={token}")
    assert refused.status_code == 503
    assert refused.json()["type"] == "/problems/audit-unavailable"

    opened = await phone.get(f"/consent/{request_id}?t={token}")
    assert opened.status_code == 303, "the link was not spent by the attempt that left no record"
    again = await phone.get(f"/consent/{request_id}?t={token}")
    assert again.status_code == 410, "a link opens once"
    recorded = [e for e in events_of(backend, "consent_link_opened") if e["basis"] == f"request:{request_id}"]
    assert len(recorded) == 1


async def test_an_approval_on_the_phone_page_does_not_happen_when_it_cannot_be_audited(
    browsers,
    hub_state: HubState,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    desk, phone = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    request_id, token = await _open(desk)
    assert (await phone.get(f"/consent/{request_id}?t={token}")).status_code == 303
    await sign_in(phone, "resident2", "resident2-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    assert page.status_code == 200, page.text
    csrf = CSRF.search(page.text)
    assert csrf
    with audit_refuses(hub_state, "consent_approve"):
        refused = await phone.post(
            f"/consent/{request_id}", data={"decision": "approve", "csrf": csrf.group(1)}
        )
    assert refused.status_code == 503, "the page must not claim an approval that did not happen"
    status = scalar(backend, "SELECT status FROM consent_requests WHERE request_id = :r", r=request_id)
    assert status == "pending"
    assert scalar(backend, "SELECT count(*) FROM consents WHERE request_id = :r", r=request_id) == 0
