"""A consent request reaches its resident's inbox once (issue 12 leftovers, item 1).

A request names nobody when it is made (a bank's body carries no resident; a counter's is bound to a phone
only when its QR link is opened), so its creation cannot be announced. The resident hears of it when they
first open it signed in: one ``consent_request_received`` event with their subject commitment, and with it
one outbox row per channel, saying who asks for which document. Opening it again, in the API or on the page,
or in several tabs at once, adds nothing; a request nobody opened announces nothing; a closed one neither.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from audit.models import AuditEventRow
from hub import i18n
from hub.consents.service import REQUEST_RECEIVED
from hub.notify import inbox
from hub.notify.models import OutboxRow
from hub.state import HubState
from tests.conftest import Backend, account_bearer
from tests.helpers.audit_faults import scalar
from tests.helpers.consent_flow import create_request
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio


async def notices_of(state: HubState, request_id: str) -> dict[str, list[OutboxRow]]:
    """The request's ``consent_request_received`` events, by subject commitment, with their outbox rows."""
    async with state.sessions() as session:
        events = (
            await session.execute(
                select(AuditEventRow.event_id, AuditEventRow.subject_commitment).where(
                    AuditEventRow.kind == REQUEST_RECEIVED,
                    AuditEventRow.basis == f"request:{request_id}",
                )
            )
        ).all()
        found: dict[str, list[OutboxRow]] = {}
        for event_id, subject in events:
            assert subject not in found, "a second event for the same request and resident"
            rows = await session.execute(select(OutboxRow).where(OutboxRow.event_id == event_id))
            found[subject] = list(rows.scalars())
        return found


def commitment(backend: Backend, username: str) -> str:
    return str(scalar(backend, "SELECT subject_commitment FROM accounts WHERE username = :u", u=username))


def one_per_channel(rows: list[OutboxRow]) -> None:
    channels = [row.channel for row in rows]
    assert "inbox" in channels and len(channels) == len(set(channels)), channels


async def test_a_bank_request_is_announced_once_to_each_resident_who_opens_it(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    request = await create_request(api, hub_state)
    request_id = request["request_id"]
    assert await notices_of(hub_state, request_id) == {}  # made, but nobody opened it: nobody is told

    for _ in range(3):
        opened = await api.get(
            f"/v1/me/consent-requests/{request_id}", headers=account_bearer(hub_state, "resident0")
        )
        assert opened.status_code == 200, opened.text
    found = await notices_of(hub_state, request_id)
    mine = commitment(backend, "resident0")
    assert list(found) == [mine]
    one_per_channel(found[mine])
    org = scalar(backend, "SELECT recipient_org FROM consent_requests WHERE request_id = :r", r=request_id)
    notice = found[mine][0]
    assert notice.kind == REQUEST_RECEIVED and notice.params["recipient_org"] == org
    words = inbox.text("en", notice.kind, notice.params, lambda d: f"<{d}>")
    assert words.startswith(f"{org} asks for your consent to see your <resident_registration_abstract>")
    for lang in i18n.SUPPORTED:
        assert org in inbox.text(lang, notice.kind, notice.params, lambda d: f"<{d}>")

    # The decision page, in a browser, is the same opening: still one notice for resident0.
    async with open_browsers(hub_state, backend, 1) as (phone,):
        await sign_in(phone, "resident0", "resident0-pw", f"/consent/{request_id}")
        page = await phone.get(f"/consent/{request_id}")
        assert page.status_code == 200, page.text
    assert [len(rows) for rows in (await notices_of(hub_state, request_id)).values()] == [len(found[mine])]

    # Another resident opening it hears of it once too; once it is decided, nobody new is told.
    for _ in range(2):
        assert (
            await api.get(
                f"/v1/me/consent-requests/{request_id}", headers=account_bearer(hub_state, "resident1")
            )
        ).status_code == 200
    assert set(await notices_of(hub_state, request_id)) == {mine, commitment(backend, "resident1")}
    decided = await api.post(
        f"/v1/me/consent-requests/{request_id}/deny", json={}, headers=account_bearer(hub_state, "resident0")
    )
    assert decided.status_code == 200, decided.text
    late = await api.get(
        f"/v1/me/consent-requests/{request_id}", headers=account_bearer(hub_state, "resident2")
    )
    assert late.status_code == 403  # decided: it names resident0 now, and is closed besides
    assert commitment(backend, "resident2") not in await notices_of(hub_state, request_id)


async def test_a_counter_request_is_announced_once_to_the_resident_on_the_phone(
    hub_state: HubState, backend: Backend
) -> None:
    async with open_browsers(hub_state, backend, 2) as (desk, phone):
        assert (await sign_in(desk, "official", "official-pw", "/counter")).status_code == 303
        form = await desk.get("/counter")
        token = CSRF.search(form.text)
        assert token
        made = await desk.post(
            "/counter", data={"csrf": token.group(1), "documents": "resident_registration_abstract:basic"}
        )
        assert made.status_code == 303, made.text
        shown = urlparse(made.headers["location"])  # the desk's session page, which shows the QR code
        request_id, token = shown.path.rsplit("/", 1)[1], parse_qs(shown.query)["t"][0]
        opened = await phone.get(f"/consent/{request_id}?t={token}")
        assert opened.status_code == 303  # the QR link opened: no resident yet, so no notice yet
        assert await notices_of(hub_state, request_id) == {}
        await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
        for _ in range(2):
            assert (await phone.get(f"/consent/{request_id}")).status_code == 200
        history = await phone.get("/me/history", params={"lang": "en"})
        assert history.status_code == 200 and "Consent request received" in history.text  # labelled, not raw
        assert ">consent_request_received<" not in history.text
    found = await notices_of(hub_state, request_id)
    assert list(found) == [commitment(backend, "resident1")]
    one_per_channel(next(iter(found.values())))


async def test_tabs_opening_a_request_at_once_announce_it_once(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    request_id = (await create_request(api, hub_state))["request_id"]
    headers = account_bearer(hub_state, "resident2")
    answers = await asyncio.gather(
        *(api.get(f"/v1/me/consent-requests/{request_id}", headers=headers) for _ in range(6))
    )
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers if a.status_code != 200]
    found = await notices_of(hub_state, request_id)
    assert list(found) == [commitment(backend, "resident2")]
    one_per_channel(found[commitment(backend, "resident2")])
