"""The consent moments no request causes (issue 12, item 1): the sweep (``hub.notify.sweep``) records a
consent expiring within three days, expired, or used up as one audit event each, with its outbox rows in the
same transaction; run again (or twice at once) it records nothing more; the bank's webhook for ``expired``
and ``exhausted`` arrives signed per Standard Webhooks.

Time is moved by writing the consent's dates (as if it had been granted long ago), not by waiting. Consents
are granted to ``test-bank`` through the API; the sweep also finds what other tests left due in the shared
databases, so each test looks at its own consent only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from audit.events import utcnow
from audit.models import AuditEventRow
from consent.models import ConsentEventRow, ConsentRow
from hub.app import create_app
from hub.notify import sweep
from hub.notify.dispatch import Dispatcher, InboxChannel
from hub.notify.models import DELIVERED, OutboxRow, WebhookRow
from hub.notify.outbox import INBOX
from hub.notify.webhooks import WEBHOOK, WebhookChannel
from hub.state import HubState
from tests.conftest import Backend, bearer
from tests.helpers.consent_flow import consent_lookup, granted

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client
    # Later tests grant consents to test-bank too: its endpoint here is gone, and they owe it nothing.
    async with hub_state.sessions() as session, session.begin():
        mine = WebhookRow.client_id == "test-bank"
        await session.execute(update(WebhookRow).where(mine).values(active=False))


async def register(api: httpx.AsyncClient, state: HubState) -> str:
    answer = await api.post("/v1/webhooks", json={"url": "http://bank.test/hooks"}, headers=bearer(state))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert {"consent.expired", "consent.exhausted"} <= set(body["events"])
    return str(body["secret"])


async def move(state: HubState, consent_id: str, *, starts: datetime, expires: datetime) -> None:
    async with state.sessions() as session, session.begin():
        await session.execute(
            update(ConsentRow)
            .where(ConsentRow.consent_id == consent_id)
            .values(starts_at=starts, expires_at=expires)
        )


async def recorded(state: HubState, consent_id: str) -> list[str]:
    """The sweep's audit events about this consent, oldest first."""
    async with state.sessions() as session:
        found = await session.execute(
            select(AuditEventRow.kind)
            .where(AuditEventRow.reason == f"consent:{consent_id}", AuditEventRow.actor_id == "notify-sweep")
            .order_by(AuditEventRow.seq)
        )
        return list(found.scalars())


async def rows_of(state: HubState, consent_id: str, transition: str) -> list[OutboxRow]:
    async with state.sessions() as session:
        found = await session.execute(
            select(OutboxRow).where(OutboxRow.event_id == sweep.event_id_for(consent_id, transition))
        )
        return list(found.scalars())


async def sweep_now(state: HubState) -> int:
    return await sweep.sweep(state.sessions, state.trail)


async def test_expiring_then_expired_are_recorded_once_each_and_the_bank_gets_a_signed_webhook(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    secret = await register(api, hub_state)
    consent_id = await granted(api, hub_state, mode="standing", max_uses=3, consent_days=30)
    now = utcnow()
    await move(hub_state, consent_id, starts=now - timedelta(days=20), expires=now + timedelta(days=2))
    assert await sweep_now(hub_state) >= 1
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == ["consent_expiring"]  # once, however often it runs
    [expiring] = await rows_of(hub_state, consent_id, "expiring")
    assert expiring.channel == INBOX  # resident0 has no address; the bank is told only of the end

    await move(hub_state, consent_id, starts=now - timedelta(days=20), expires=now - timedelta(minutes=1))
    await sweep_now(hub_state)
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == ["consent_expiring", "consent_expired"]
    expired = {r.channel: r for r in await rows_of(hub_state, consent_id, "expired")}
    assert set(expired) == {INBOX, WEBHOOK} and expired[WEBHOOK].params["type"] == "consent.expired"

    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(hub_state.keys.data_key, transport=httpx.MockTransport(receiver))
    worker = Dispatcher(
        hub_state.sessions, hub_state.keys.data_key, channels={INBOX: InboxChannel(), WEBHOOK: channel}
    )
    while await worker.run_once():
        pass
    assert {r.status for r in await rows_of(hub_state, consent_id, "expired")} == {DELIVERED}
    [request] = [r for r in received if r.headers["webhook-id"] == expired[WEBHOOK].message_id]
    headers = dict(request.headers.items())
    body = Webhook(secret).verify(request.content, headers)
    assert body["type"] == "consent.expired" and body["data"]["consent_id"] == consent_id
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.content.replace(b"expired", b"revoked"), headers)


async def test_a_used_up_consent_is_announced_once_and_not_again_as_expired(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    await register(api, hub_state)
    consent_id = await granted(api, hub_state)  # one time, one document
    looked = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert looked.status_code == 200, looked.text
    await sweep_now(hub_state)
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == ["consent_exhausted"]
    exhausted = {r.channel: r.params for r in await rows_of(hub_state, consent_id, "exhausted")}
    assert exhausted[WEBHOOK]["type"] == "consent.exhausted"
    assert exhausted[INBOX]["recipient_org"] == "Test Bank"  # the notice names who held the consent

    now = utcnow()
    await move(hub_state, consent_id, starts=now - timedelta(days=2), expires=now - timedelta(minutes=1))
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == ["consent_exhausted"]  # one terminal notice


async def test_a_consent_with_uses_left_is_not_announced_as_used_up(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=2)
    looked = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert looked.status_code == 200, looked.text
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == []


async def test_two_sweeps_at_once_record_a_moment_once(api: httpx.AsyncClient, hub_state: HubState) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=3)
    now = utcnow()
    await move(hub_state, consent_id, starts=now - timedelta(days=1), expires=now - timedelta(seconds=1))
    await asyncio.gather(sweep_now(hub_state), sweep_now(hub_state))
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == ["consent_expired"]
    async with hub_state.sessions() as session:
        marks = await session.execute(
            select(func.count())
            .select_from(ConsentEventRow)
            .where(ConsentEventRow.consent_id == consent_id, ConsentEventRow.kind == "expired")
        )
        assert marks.scalar_one() == 1  # the consent's own log, too, has the moment once


async def test_a_short_consent_is_not_announced_as_expiring(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=3, consent_days=2)
    await sweep_now(hub_state)
    assert await recorded(hub_state, consent_id) == []  # the resident just saw its end date


async def test_the_worker_loop_runs_the_sweep_beside_deliveries_and_stops_with_it(
    hub_state: HubState,
) -> None:
    stop = asyncio.Event()
    swept: list[int] = []

    async def sweeper() -> int:
        swept.append(await sweep_now(hub_state))
        stop.set()  # one round is enough: the loop must then end, sweep task included
        return swept[-1]

    worker = Dispatcher(hub_state.sessions, hub_state.keys.data_key, sweeper=sweeper, sweep_seconds=3600)
    await asyncio.wait_for(worker.run(0.05, stop), timeout=30)
    assert len(swept) == 1
