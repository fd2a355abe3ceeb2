"""A worker's batch costs a fixed number of round trips, not a number per message (issue 12's 1,000
webhooks/s, and a lookup that must not lose more than 10 % to its notice's delivery): one claim, then one
transaction recording every delivered row in one UPDATE; webhooks of a batch read their endpoint once and go
out side by side; an idle worker polls less and less often.

Both databases; the shared databases keep rows from earlier tests, so every assertion is about this test's
own messages (a worker also delivers what other tests left due).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, select, update
from standardwebhooks.webhooks import Webhook

from hub.auth.models import AccountRow
from hub.notify import codes
from hub.notify.dispatch import IDLE_CAP_SECONDS, LINGER_SECONDS, Dispatcher, InboxChannel
from hub.notify.models import CREATED, DELIVERED, OutboxRow, WebhookRow
from hub.notify.outbox import INBOX
from hub.notify.webhooks import WEBHOOK, SecretSealer, WebhookChannel, new_secret
from hub.settings import Settings
from hub.state import HubState
from hub.uow import transaction
from tests.api.test_notifications import announced, subject_of
from tests.conftest import Backend

pytestmark = pytest.mark.anyio


@contextmanager
def counting(state: HubState) -> Iterator[dict[str, list[str]]]:
    """The statements and commits the hub's engine sends meanwhile."""
    seen: dict[str, list[str]] = {"statements": [], "commits": []}
    engine = state.sessions.kw["bind"].sync_engine

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen["statements"].append(sql)

    def commit(conn: Any) -> None:
        seen["commits"].append("commit")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


async def test_a_batch_of_inbox_notices_is_one_claim_and_one_record_whatever_its_size(
    hub_state: HubState, backend: Backend
) -> None:
    subject = subject_of(hub_state, backend, 0)  # resident0 has an account: the record resolves it
    worker = Dispatcher(hub_state.sessions, hub_state.keys.data_key, batch_size=500)
    while await worker.run_once():  # what earlier tests left due, so the batch below is ours
        pass
    for size in (3, 40):
        mine = await announced(hub_state, subject, count=size)
        with counting(hub_state) as seen:
            assert await worker.run_once() >= size
        assert len(seen["commits"]) == 2  # the claim's and the record's, however many messages
        if backend.name == "postgres":  # one statement each (SQLite, in process, updates row by row)
            assert len(seen["statements"]) == 2, seen["statements"]
        async with hub_state.sessions() as session:
            account = (
                await session.execute(
                    select(AccountRow.account_id).where(
                        AccountRow.subject_commitment == subject, AccountRow.role == "resident"
                    )
                )
            ).scalar_one()
            rows = (await session.execute(select(OutboxRow).where(OutboxRow.message_id.in_(mine)))).scalars()
            rows = list(rows)
        assert len(rows) == size
        for row in rows:
            assert (row.status, row.account_id, row.claimed_until, row.delivered_at is not None) == (
                DELIVERED,
                account,
                None,
                True,
            )
            # The code a reader derives verifies: its hash was written with the batch.
            assert row.code_hash == codes.code_hash(
                codes.notice_code(hub_state.keys.data_key, row.message_id)
            )


async def test_a_worker_whose_lease_ran_out_records_nothing_of_its_batch(
    hub_state: HubState, backend: Backend
) -> None:
    mine = set(await announced(hub_state, subject_of(hub_state, backend, 1), count=5))
    slow = Dispatcher(hub_state.sessions, hub_state.keys.data_key, worker_id="slow", batch_size=500)
    batch = [m for m in await slow.claim() if m.message_id in mine]
    async with transaction(hub_state.sessions) as session:  # its lease ran out and another worker took them
        await session.execute(
            update(OutboxRow).where(OutboxRow.message_id.in_(mine)).values(claimed_by="other")
        )
    for message in batch:
        assert await slow.deliver(message) == DELIVERED  # it believes so, but it no longer holds them
    async with hub_state.sessions() as session:
        statuses = (
            await session.execute(select(OutboxRow.status).where(OutboxRow.message_id.in_(mine)))
        ).all()
    assert {s for (s,) in statuses} == {"sending"}  # left to the worker that holds them
    async with transaction(hub_state.sessions) as session:  # leave nothing of ours in "sending"
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.message_id.in_(mine))
            .values(status=CREATED, claimed_by=None, claimed_until=None)
        )


class Receiver(httpx.AsyncBaseTransport):
    """An endpoint that takes a little while to answer, counting how many deliveries overlap."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_at_once = 0
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            self.requests.append(request)
            return httpx.Response(204)
        finally:
            self.in_flight -= 1


async def test_a_batch_of_webhooks_reads_its_endpoint_once_and_goes_out_side_by_side(
    hub_state: HubState,
) -> None:
    client_id = f"batch-bank-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    now = datetime.now(UTC)
    mine = [str(uuid.uuid4()) for _ in range(12)]
    async with transaction(hub_state.sessions) as session:
        session.add(
            WebhookRow(
                webhook_id=str(uuid.uuid4()),
                client_id=client_id,
                url="http://bank.test/hooks",
                secret_sealed=SecretSealer(hub_state.keys.data_key).seal(secret),
                active=True,
                created_at=now,
            )
        )
        params = {"client_id": client_id, "type": "consent.revoked", "occurred_at": now.isoformat()}
        await session.execute(
            insert(OutboxRow),
            [
                {
                    "message_id": message_id,
                    "event_id": str(uuid.uuid4()),
                    "kind": "consent_revoke",
                    "subject_commitment": None,
                    "channel": WEBHOOK,
                    "params": {**params, "consent_id": str(uuid.uuid4()), "event_id": str(uuid.uuid4())},
                    "created_at": now,
                    "not_before": now,
                    "status": CREATED,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for message_id in mine
            ],
        )
    receiver = Receiver()
    channel = WebhookChannel(hub_state.keys.data_key, transport=receiver)
    worker = Dispatcher(
        hub_state.sessions,
        hub_state.keys.data_key,
        channels={INBOX: InboxChannel(), WEBHOOK: channel},
        batch_size=500,
        concurrency=4,
    )
    with counting(hub_state) as seen:
        await worker.run_once()
    assert 1 < receiver.most_at_once <= 4  # side by side, and never more than the concurrency
    assert sum(" webhooks" in sql for sql in seen["statements"]) == 1  # the endpoint read once per batch
    verifier = Webhook(secret)
    received = {r.headers["webhook-id"]: r for r in receiver.requests if r.headers["webhook-id"] in mine}
    assert sorted(received) == sorted(mine)  # each once
    for message_id, request in received.items():
        body = verifier.verify(request.content, dict(request.headers.items()))
        assert body["type"] == "consent.revoked" and json.loads(request.content)["data"]["consent_id"]
    async with hub_state.sessions() as session:
        statuses = await session.execute(select(OutboxRow.status).where(OutboxRow.message_id.in_(mine)))
        assert set(statuses.scalars()) == {DELIVERED}
    async with transaction(hub_state.sessions) as session:  # no later test owes this client anything
        await session.execute(
            update(WebhookRow).where(WebhookRow.client_id == client_id).values(active=False)
        )


class Scripted(Dispatcher):
    """A dispatcher whose batches are scripted (no database): when it polls, and what each poll found."""

    def __init__(self, found: list[int], batch_size: int) -> None:
        super().__init__(None, b"k" * 32, batch_size=batch_size)  # type: ignore[arg-type]
        self.found = found
        self.polls: list[float] = []
        self.stop = asyncio.Event()

    async def run_once(self) -> int:
        self.polls.append(asyncio.get_running_loop().time())
        if not self.found:
            self.stop.set()
            return 0
        return self.found.pop(0)


async def test_an_idle_worker_polls_less_and_less_often_and_a_busy_one_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Full batches follow each other at once; after a partial one the worker lingers a little.
    busy = Scripted([10, 10, 3], batch_size=10)
    await busy._deliver_until(0.5, busy.stop)
    gaps = [b - a for a, b in zip(busy.polls, busy.polls[1:], strict=False)]
    assert gaps[0] < LINGER_SECONDS and gaps[1] < LINGER_SECONDS
    assert LINGER_SECONDS * 0.9 <= gaps[2] < 0.5  # the linger, not the idle interval

    # Empty polls: the pause doubles from the interval up to the cap (made short here, 1 s in earnest).
    monkeypatch.setattr("hub.notify.dispatch.IDLE_CAP_SECONDS", 0.2)
    idle = Scripted([0] * 7, batch_size=10)
    await idle._deliver_until(0.01, idle.stop)
    gaps = [b - a for a, b in zip(idle.polls, idle.polls[1:], strict=False)]
    assert len(gaps) == 7
    assert gaps[0] < 0.06 and gaps[4] > 2 * gaps[1] and gaps[2] > gaps[0]
    assert all(0.18 <= gap < 0.45 for gap in gaps[-2:])  # held at the cap
    assert IDLE_CAP_SECONDS == 1.0  # an idle worker still sees a new notice within about a second


def test_batch_size_and_concurrency_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGYU_NOTIFY_BATCH", "250")
    monkeypatch.setenv("GONGYU_NOTIFY_CONCURRENCY", "8")
    settings = Settings(environment="test")
    assert (settings.notify_batch_size, settings.notify_concurrency) == (250, 8)
    monkeypatch.delenv("GONGYU_NOTIFY_BATCH")
    monkeypatch.setenv("GONGYU_NOTIFY_BATCH_SIZE", "40")  # the name it had before
    assert Settings(environment="test").notify_batch_size == 40
