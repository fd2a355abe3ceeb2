"""Notifications (issue 12, part one): the outbox row joins its event's transaction, the worker delivers it
to the resident's inbox, its code verifies, and several workers share the outbox without double delivery.

Both databases (the ``backend`` fixture). The app here runs without its in-process worker so that each test
drives delivery itself (``Dispatcher.run_once``); the shared databases keep rows from earlier tests, so every
assertion is about this test's own messages.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from audit import AuditEvent
from audit.events import utcnow
from hub import i18n
from hub.notify import codes, outbox
from hub.notify.dispatch import Dispatcher, InboxChannel, Message, RetryPolicy
from hub.notify.models import DELIVERED, PERMANENT_FAILURE, TEMPORARY_FAILURE, OutboxRow
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend, account_bearer, bearer, lookup_body
from tests.helpers.audit_faults import audit_refuses, scalar
from tests.helpers.consent_flow import consent_lookup, granted

pytestmark = pytest.mark.anyio
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def dispatcher(state: HubState, **options: Any) -> Dispatcher:
    return Dispatcher(state.sessions, state.keys.data_key, **options)


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite hands back naive UTC


def subject_of(state: HubState, backend: Backend, index: int) -> str:
    return state.committer.commit(backend.residents[index]["resident_number"].replace("-", ""))


def rows_of_event(backend: Backend, event_id: str) -> int:
    return int(scalar(backend, "SELECT count(*) FROM outbox WHERE event_id = :e", e=event_id))


def outbox_count(backend: Backend, subject: str) -> int:
    return int(scalar(backend, "SELECT count(*) FROM outbox WHERE subject_commitment = :s", s=subject))


async def deliver_all(state: HubState, **options: Any) -> None:
    worker = dispatcher(state, **options)
    while await worker.run_once():
        pass


async def announced(state: HubState, subject: str, count: int = 1) -> list[str]:
    """Messages written straight through ``announce`` (as Trail does), committed; their message ids."""
    event_ids = []
    async with transaction(state.sessions) as session:
        for _ in range(count):
            event = AuditEvent(
                kind="lookup",
                actor_kind="client",
                actor_id="notify-test",
                outcome="ok",
                subject_commitment=subject,
            )
            await outbox.announce(session, event)
            event_ids.append(event.event_id)
    async with state.sessions() as session:
        found = await session.execute(select(OutboxRow.message_id).where(OutboxRow.event_id.in_(event_ids)))
        return list(found.scalars())


# -- writing: one row per event, in the event's transaction ----------------------------------------------


@pytest.mark.parametrize("kind", sorted(outbox.NOTIFIED_KINDS))
async def test_each_notified_kind_writes_one_inbox_row_in_the_events_transaction(
    hub_state: HubState, backend: Backend, kind: str
) -> None:
    event = AuditEvent(
        kind=kind, actor_kind="client", actor_id="notify-test", outcome="ok", subject_commitment="c" * 64
    )
    async with hub_state.sessions() as session:
        await hub_state.trail.record(session, event)
        rows = (
            await session.execute(select(OutboxRow).where(OutboxRow.event_id == event.event_id))
        ).scalars()
        found = list(rows)
        assert [(r.kind, r.channel, r.status) for r in found] == [(kind, "inbox", "created")]
        await session.rollback()  # the event's transaction does not commit: neither does its notice
    assert rows_of_event(backend, event.event_id) == 0


async def test_events_without_a_subject_or_of_quiet_kinds_announce_nothing() -> None:
    quiet = AuditEvent(
        kind="export", actor_kind="auditor", actor_id="a", outcome="ok", subject_commitment="c"
    )
    no_subject = AuditEvent(kind="consent_request", actor_kind="client", actor_id="b", outcome="ok")
    assert outbox.rows_for(quiet) == [] and outbox.rows_for(no_subject) == []


async def test_an_entry_visible_only_later_is_announced_only_from_then() -> None:
    from datetime import timedelta

    from audit.events import utcnow

    later = utcnow() + timedelta(days=30)
    event = AuditEvent(
        kind="lookup",
        actor_kind="official",
        actor_id="o",
        outcome="ok",
        subject_commitment="c",
        visible_from=later,
    )
    (row,) = outbox.rows_for(event)
    assert row["not_before"] == later and row["next_attempt_at"] == later


async def test_a_lookup_and_its_notice_commit_together(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    response = await api.post(
        "/v1/lookups", json=lookup_body(backend.residents[1]["resident_number"]), headers=bearer(hub_state)
    )
    assert response.status_code == 200, response.text
    assert rows_of_event(backend, response.json()["audit"]["event_id"]) == 1


async def test_no_notice_when_the_audit_append_fails(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    subject = subject_of(hub_state, backend, 1)
    before = outbox_count(backend, subject)
    with audit_refuses(hub_state, "lookup"):
        response = await api.post(
            "/v1/lookups",
            json=lookup_body(backend.residents[1]["resident_number"]),
            headers=bearer(hub_state),
        )
    assert response.status_code == 503
    assert outbox_count(backend, subject) == before


async def test_a_failed_outbox_insert_fails_the_change_closed(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    consent_id = await granted(api, hub_state, "resident0")
    taken = (await announced(hub_state, subject_of(hub_state, backend, 0)))[0]
    events = int(scalar(backend, "SELECT count(*) FROM audit_events"))
    # The outbox insert fails in the database itself: a message id that already exists (unique constraint).
    monkeypatch.setattr(outbox, "new_message_id", lambda: taken)
    looked = await api.post(
        "/v1/lookups",
        json=consent_lookup(consent_id)
        | {"subject": {"resident_number": backend.residents[0]["resident_number"]}},
        headers=bearer(hub_state),
    )
    revoked = await api.post(
        f"/v1/me/consents/{consent_id}/revoke", headers=account_bearer(hub_state, "resident0")
    )
    assert (looked.status_code, revoked.status_code) == (503, 503), (looked.text, revoked.text)
    assert looked.json()["type"] == "/problems/audit-unavailable"
    assert int(scalar(backend, "SELECT count(*) FROM audit_events")) == events  # no event, no use counted
    status = scalar(backend, "SELECT status FROM consents WHERE consent_id = :c", c=consent_id)
    assert status == "active"  # the revocation did not happen either


# -- delivery, the inbox and the verification of codes ---------------------------------------------------


async def test_the_worker_delivers_and_the_inbox_lists_pages_and_marks_read(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    me = account_bearer(hub_state, "resident1") | {"Accept-Language": "en"}
    for _ in range(2):
        looked = await api.post(
            "/v1/lookups",
            json=lookup_body(backend.residents[1]["resident_number"]),
            headers=bearer(hub_state),
        )
        assert looked.status_code == 200
    event_id = looked.json()["audit"]["event_id"]
    listed = await api.get("/v1/me/notifications", headers=me)
    assert event_id not in str(listed.json())  # not delivered yet: not in the inbox

    await deliver_all(hub_state)
    first = (await api.get("/v1/me/notifications", params={"limit": 1}, headers=me)).json()
    assert first["unread"] >= 2 and len(first["items"]) == 1 and first["next_cursor"]
    notice = first["items"][0]
    assert notice["kind"] == "lookup" and notice["outcome"] == "ok" and notice["read_at"] is None
    assert "Test Bank looked up your" in notice["text"], notice
    assert CODE.match(notice["code"]), notice["code"]
    second = (
        await api.get("/v1/me/notifications", params={"limit": 1, "cursor": first["next_cursor"]}, headers=me)
    ).json()
    assert second["items"][0]["id"] != notice["id"]

    korean = (
        await api.get(
            "/v1/me/notifications",
            params={"limit": 1},
            headers=account_bearer(hub_state, "resident1") | {"Accept-Language": "ko"},
        )
    ).json()
    assert "조회했습니다" in korean["items"][0]["text"]

    read = await api.post(f"/v1/me/notifications/{notice['id']}/read", headers=me)
    assert read.status_code == 200 and read.json()["unread"] == first["unread"] - 1
    again = await api.post(f"/v1/me/notifications/{notice['id']}/read", headers=me)
    assert again.json()["read_at"] == read.json()["read_at"]
    unread_only = (await api.get("/v1/me/notifications", params={"unread_only": "true"}, headers=me)).json()
    assert notice["id"] not in {item["id"] for item in unread_only["items"]}

    # Another resident can neither see nor mark it.
    other = account_bearer(hub_state, "resident0")
    assert (await api.post(f"/v1/me/notifications/{notice['id']}/read", headers=other)).status_code == 404
    assert notice["id"] not in str((await api.get("/v1/me/notifications", headers=other)).json())
    assert (await api.get("/v1/me/notifications", params={"cursor": "x"}, headers=me)).status_code == 400
    assert (await api.get("/v1/me/notifications", headers=bearer(hub_state))).status_code in (401, 403)


async def test_a_notice_code_verifies_and_an_unknown_one_does_not(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    (message_id,) = await announced(hub_state, subject_of(hub_state, backend, 2))
    code = codes.notice_code(hub_state.keys.data_key, message_id)
    before = await api.post("/v1/notices/verify", json={"code": code})
    assert before.json() == {"genuine": False}  # not sent yet: nobody can be holding it
    await deliver_all(hub_state)

    answer = (await api.post("/v1/notices/verify", json={"code": code})).json()
    assert answer.keys() == {"genuine", "sent_at", "channel", "kind"}  # when, how, what kind; never for whom
    assert answer["genuine"] is True and answer["channel"] == "inbox" and answer["kind"] == "lookup"
    typed = code.lower().replace("-", " ").replace("0", "o")  # as a person might type it
    assert (await api.post("/v1/notices/verify", json={"code": typed})).json()["genuine"] is True
    for wrong in ("0000-0000-0000", code[:-1] + ("A" if code[-1] != "A" else "B"), "hello", "x" * 64):
        assert (await api.post("/v1/notices/verify", json={"code": wrong})).json() == {"genuine": False}
    assert scalar(backend, "SELECT count(*) FROM outbox WHERE code_hash = :h", h=code) == 0  # hashed only


# -- retries, dead letters, leases, concurrent workers ---------------------------------------------------


class FailingFor:
    """The inbox, except that the given messages fail (as a receiver that keeps refusing)."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.inner = InboxChannel()

    async def deliver(self, session: Any, message: Message) -> str | None:
        if message.message_id in self.failing:
            raise ConnectionError("receiver down")
        return await self.inner.deliver(session, message)


async def status_of(state: HubState, message_id: str) -> OutboxRow:
    async with state.sessions() as session:
        return (
            await session.execute(select(OutboxRow).where(OutboxRow.message_id == message_id))
        ).scalar_one()


async def test_failed_deliveries_back_off_then_become_dead_letters(
    hub_state: HubState, backend: Backend
) -> None:
    """Deterministic: the worker's clock stands still (injected), so each failure's back-off is read exactly
    as ``next_attempt_at - now``; a retry is let through by moving this one message's ``next_attempt_at``
    back to that moment, never by sleeping, and no other test's message is made due by it."""
    (message_id,) = await announced(hub_state, subject_of(hub_state, backend, 2))
    now = utcnow()
    retry = RetryPolicy(max_attempts=3, base_seconds=60, cap_seconds=3600)
    worker = dispatcher(
        hub_state, channels={"inbox": FailingFor({message_id})}, retry=retry, clock=lambda: now
    )

    async def attempt() -> OutboxRow:
        """Run the worker until it has tried this message once more (other tests' rows may come first)."""
        tried = (await status_of(hub_state, message_id)).attempts
        for _ in range(50):
            await worker.run_once()
            row = await status_of(hub_state, message_id)
            if row.attempts > tried:
                return row
        raise AssertionError(f"message {message_id} was not tried again")

    async def due_now() -> None:
        async with transaction(hub_state.sessions) as session:
            await session.execute(
                update(OutboxRow).where(OutboxRow.message_id == message_id).values(next_attempt_at=now)
            )

    def back_off(row: OutboxRow) -> float:
        assert row.next_attempt_at is not None
        return (aware(row.next_attempt_at) - now).total_seconds()

    first = await attempt()
    assert (first.status, first.attempts, first.last_error) == (
        TEMPORARY_FAILURE,
        1,
        "ConnectionError('receiver down')",
    )
    assert 30 <= back_off(first) <= 60  # the first step (60 s) with equal jitter
    await worker.run_once()
    assert (await status_of(hub_state, message_id)).attempts == 1  # backing off: not due, not tried

    await due_now()
    second = await attempt()
    assert (second.status, second.attempts) == (TEMPORARY_FAILURE, 2)
    assert 60 <= back_off(second) <= 120 and back_off(second) >= back_off(first)  # the step doubled

    await due_now()
    dead = await attempt()
    assert (dead.status, dead.attempts, dead.last_error) == (
        PERMANENT_FAILURE,
        3,
        "ConnectionError('receiver down')",
    )
    await due_now()
    await worker.run_once()
    assert (await status_of(hub_state, message_id)).attempts == 3  # a dead letter is not tried again


def test_back_off_grows_exponentially_with_jitter() -> None:
    retry = RetryPolicy(base_seconds=2, cap_seconds=60)
    for attempts, step in ((1, 2), (2, 4), (3, 8), (10, 60)):
        delays = {retry.delay(attempts) for _ in range(20)}
        assert all(step / 2 <= d <= step for d in delays) and len(delays) > 1


async def test_a_claim_whose_lease_ran_out_is_taken_over(hub_state: HubState, backend: Backend) -> None:
    (message_id,) = await announced(hub_state, subject_of(hub_state, backend, 2))
    killed = dispatcher(hub_state, lease_seconds=0.2, worker_id="killed")
    assert message_id in {m.message_id for m in await killed.claim()}  # ... and then it dies mid-batch
    survivor = dispatcher(hub_state, worker_id="survivor")
    assert message_id not in {m.message_id for m in await survivor.claim()}  # still under its lease
    await asyncio.sleep(0.3)
    taken = [m for m in await survivor.claim() if m.message_id == message_id]
    assert taken and taken[0].attempts == 2
    assert await survivor.deliver(taken[0]) == DELIVERED
    row = await status_of(hub_state, message_id)
    assert (row.status, row.claimed_by) == (DELIVERED, "survivor")
    # The first worker, had it only hung, cannot undo or redo what the survivor finished.
    stale = Message(**{**taken[0].__dict__, "attempts": 1})
    await killed.deliver(stale)
    assert (await status_of(hub_state, message_id)).claimed_by == "survivor"
    await deliver_all(hub_state)  # leave nothing this test claimed in "sending"


@pytest.mark.postgres
async def test_two_workers_on_postgres_deliver_each_message_exactly_once(postgres_backend: Backend) -> None:
    from hub.state import build_state

    state = build_state(postgres_backend.settings)
    try:
        subject = state.committer.commit(postgres_backend.residents[2]["resident_number"].replace("-", ""))
        mine = set(await announced(state, subject, count=300))
        delivered: list[tuple[str, str]] = []

        class Counting(InboxChannel):
            def __init__(self, name: str) -> None:
                self.name = name

            async def deliver(self, session: Any, message: Message) -> str | None:
                await asyncio.sleep(0.001)  # let the other worker run between deliveries
                delivered.append((self.name, message.message_id))
                return await super().deliver(session, message)

        async def work(name: str) -> None:
            worker = dispatcher(state, channels={"inbox": Counting(name)}, batch_size=25, worker_id=name)
            while await worker.run_once():
                pass

        await asyncio.gather(work("a"), work("b"))
        ours = [(name, m) for name, m in delivered if m in mine]
        assert sorted(m for _, m in ours) == sorted(mine)  # every message once, none twice
        assert {name for name, _ in ours} == {"a", "b"}  # and both workers shared the work
        async with state.sessions() as session:
            statuses = await session.execute(select(OutboxRow.status).where(OutboxRow.message_id.in_(mine)))
            assert set(statuses.scalars()) == {DELIVERED}
    finally:
        await state.close()


async def test_a_stale_sending_row_of_a_dead_worker_is_recovered_by_the_loop(
    hub_state: HubState, backend: Backend
) -> None:
    (message_id,) = await announced(hub_state, subject_of(hub_state, backend, 2))
    async with transaction(hub_state.sessions) as session:  # as a worker killed with -9 leaves it
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.message_id == message_id)
            .values(status="sending", claimed_by="gone", claimed_until=OutboxRow.created_at)
        )
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher(hub_state).run(0.05, stop))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if (await status_of(hub_state, message_id)).status == DELIVERED:
            break
    stop.set()
    await loop
    assert (await status_of(hub_state, message_id)).status == DELIVERED


# -- the pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
async def test_the_home_page_answers_in_each_language(api: httpx.AsyncClient, lang: str) -> None:
    page = await api.get("/", params={"lang": lang})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in page.text
    assert i18n.gettext(lang, "home", "home.ways") in page.text
    for path in ('href="/me"', 'href="/counter"', 'href="/audit"', 'href="/verify"', 'href="/docs"'):
        assert path in page.text
    assert "Content-Security-Policy" in page.headers


async def test_my_home_shows_my_unread_notices(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    (message_id,) = await announced(hub_state, subject_of(hub_state, backend, 2))
    await deliver_all(hub_state)
    token = account_bearer(hub_state, "resident2")["Authorization"].removeprefix("Bearer ")
    api.cookies.set("gy_session", token)
    page = await api.get("/me", params={"lang": "en"})
    assert page.status_code == 200
    assert f'data-notice="{message_id}"' in page.text
    assert codes.notice_code(hub_state.keys.data_key, message_id) in page.text
    await api.post(f"/v1/me/notifications/{message_id}/read", headers=account_bearer(hub_state, "resident2"))
    assert f'data-notice="{message_id}"' not in (await api.get("/me")).text
    assert uuid.UUID(message_id)
