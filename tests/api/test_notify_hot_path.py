"""The lookup's hot path writes its event and its notices in one statement (issues 12 item 5 and 17).

``Trail.record`` of a lookup sends the audit row and the outbox rows together, and the database itself decides
the channels (the inbox always; e-mail when the resident's account has an address and e-mail is on for the
event's group): on PostgreSQL one statement (the notices ride as a CTE of the event's INSERT), on SQLite two
INSERTs and no read. Counting the statements the database receives proves it; reading the rows back proves
the channels are those the resident chose.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit import AuditEvent
from audit.models import AuditEventRow
from hub.auth.accounts import create_account
from hub.notify import preferences
from hub.notify.models import OutboxRow
from hub.state import HubState
from hub.uow import transaction

pytestmark = pytest.mark.anyio


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def _lookup(subject: str) -> AuditEvent:
    return AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id="test-bank",
        actor_org="Test Bank",
        outcome="ok",
        subject_commitment=subject,
        document_type="resident_registration_abstract",
        basis="statute:KR-FTRA-5-2",
    )


async def _resident(hub_state: HubState, *, email: bool, chosen: preferences.Preferences | None) -> str:
    subject = secrets.token_hex(32)
    async with transaction(hub_state.sessions) as session:
        row = await create_account(
            session,
            username=f"hot-{uuid.uuid4().hex[:12]}",
            password="unused-pw",
            role="resident",
            display_name="Hot path",
            subject_commitment=subject,
            email=f"h{uuid.uuid4().hex[:10]}@demo.gongyu.test" if email else None,
            language="en",
        )
        if chosen is not None:
            await preferences.store(session, row.account_id, chosen)
    return subject


@pytest.mark.parametrize("chose", [False, True])
async def test_a_lookup_and_its_notices_are_one_statement_on_postgresql_and_no_read_on_sqlite(
    hub_state: HubState, chose: bool
) -> None:
    subject = await _resident(
        hub_state, email=True, chosen=preferences.Preferences(digest_hour=8) if chose else None
    )
    engine = hub_state.sessions.kw["bind"]
    async with hub_state.sessions() as session:
        await session.connection()  # the transaction's own BEGIN is not what is counted
        with statements(engine) as seen:
            await hub_state.trail.record(session, _lookup(subject))
        await session.rollback()
    if engine.dialect.name == "postgresql":
        assert seen == ["WITH"], seen  # WITH companion AS (INSERT INTO outbox ...) INSERT INTO audit_events
    else:
        assert seen == ["INSERT", "INSERT"], seen  # the audit row; the outbox rows (inbox and e-mail) in one


@pytest.mark.parametrize(
    ("email", "chosen", "channels"),
    [
        (True, None, ["email", "inbox"]),
        (False, None, ["inbox"]),
        (True, preferences.Preferences(email={"accesses": False}), ["inbox"]),
        (True, preferences.Preferences(email={"consents": False}), ["email", "inbox"]),
    ],
    ids=["address", "no-address", "accesses-off", "other-group-off"],
)
async def test_the_database_writes_a_notice_for_each_channel_the_resident_takes(
    hub_state: HubState, email: bool, chosen: preferences.Preferences | None, channels: list[str]
) -> None:
    subject = await _resident(hub_state, email=email, chosen=chosen)
    event = _lookup(subject)
    async with transaction(hub_state.sessions) as session:
        ref = await hub_state.trail.record(session, event)
    assert ref.seq > 0
    async with hub_state.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxRow.channel, OutboxRow.event_id, OutboxRow.kind, OutboxRow.params).where(
                    OutboxRow.subject_commitment == subject
                )
            )
        ).all()
    assert sorted(r.channel for r in rows) == channels
    assert {r.event_id for r in rows} == {event.event_id}
    assert all(r.kind == "lookup" and r.params["via"] == "statute" for r in rows)


async def test_a_lookup_recorded_alone_commits_with_its_notices(hub_state: HubState) -> None:
    subject = await _resident(hub_state, email=True, chosen=None)
    event = _lookup(subject)
    async with hub_state.sessions() as session:
        ref = await hub_state.trail.record_alone(session, event)
    async with hub_state.sessions() as session:
        seqs = (
            (await session.execute(select(AuditEventRow.seq).where(AuditEventRow.event_id == event.event_id)))
            .scalars()
            .all()
        )
        channels = (
            (await session.execute(select(OutboxRow.channel).where(OutboxRow.event_id == event.event_id)))
            .scalars()
            .all()
        )
    assert seqs == [ref.seq]
    assert sorted(channels) == ["email", "inbox"]


@pytest.mark.postgres
async def test_the_direct_append_writes_the_rows_the_engine_writes(postgres_backend: Any) -> None:
    """On PostgreSQL the lookup's append runs on asyncpg directly (``audit.direct``): the same statement,
    so the event row and its notices are those the engine's path writes, column for column."""
    from hub.notify import outbox
    from hub.state import build_state

    state = build_state(postgres_backend.settings)
    try:
        assert state.audit.direct is not None
        subject = await _resident(state, email=True, chosen=None)
        fields = ("name", "address")
        direct = AuditEvent(**{**_lookup(subject).__dict__, "event_id": str(uuid.uuid4()), "fields": fields})
        engine = AuditEvent(**{**direct.__dict__, "event_id": str(uuid.uuid4())})
        await state.audit.append_alone(direct, *outbox.resident_notices(direct))
        async with state.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await state.audit.append_with(autocommit, engine, *outbox.resident_notices(engine))

        def kept(row: Any, *dropped: str) -> dict[str, Any]:
            return {k: v for k, v in row._asdict().items() if k not in dropped}

        async with state.sessions() as session:
            events = {
                r.event_id: kept(r, "event_id", "seq")
                for r in (
                    await session.execute(
                        select(*AuditEventRow.__table__.c).where(
                            AuditEventRow.event_id.in_([direct.event_id, engine.event_id])
                        )
                    )
                ).all()
            }
            notices = {
                # (the times are each call's own "now")
                (r.event_id, r.channel): kept(
                    r, "message_id", "event_id", "seq", "created_at", "not_before", "next_attempt_at"
                )
                for r in (
                    await session.execute(
                        select(*OutboxRow.__table__.c).where(
                            OutboxRow.event_id.in_([direct.event_id, engine.event_id])
                        )
                    )
                ).all()
            }
        assert events[direct.event_id] == events[engine.event_id]
        assert events[direct.event_id]["fields"] == list(fields)
        for channel in ("inbox", "email"):
            assert notices[(direct.event_id, channel)] == notices[(engine.event_id, channel)]
    finally:
        await state.close()
