"""The lookup's hot path pays one indexed read for notifications, preferences included (issue 12, item 5).

``Trail.record`` of a lookup reads the resident's account and notice preferences in one statement (an outer
join on the preferences' primary key) and writes the audit row and the outbox rows; counting the statements
the database receives proves that choosing channels per group added no second read.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from audit import AuditEvent
from hub.auth.accounts import create_account
from hub.notify import preferences
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


@pytest.mark.parametrize("chose", [False, True])
async def test_a_lookup_reads_the_account_and_its_preferences_in_one_statement(
    hub_state: HubState, chose: bool
) -> None:
    subject = secrets.token_hex(32)
    async with transaction(hub_state.sessions) as session:
        row = await create_account(
            session,
            username=f"hot-{uuid.uuid4().hex[:12]}",
            password="unused-pw",
            role="resident",
            display_name="Hot path",
            subject_commitment=subject,
            email=f"h{uuid.uuid4().hex[:10]}@demo.gongyu.test",
            language="en",
        )
        if chose:
            await preferences.store(session, row.account_id, preferences.Preferences(digest_hour=8))
    lookup = AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id="test-bank",
        actor_org="Test Bank",
        outcome="ok",
        subject_commitment=subject,
        document_type="resident_registration_abstract",
        basis="statute:KR-FTRA-5-2",
    )
    engine = hub_state.sessions.kw["bind"]
    async with hub_state.sessions() as session:
        await session.connection()  # the transaction's own BEGIN is not what is counted
        with statements(engine) as seen:
            await hub_state.trail.record(session, lookup)
        await session.rollback()
    assert seen.count("SELECT") == 1, seen
    assert seen.count("INSERT") == 2, seen  # the audit row; the outbox rows (inbox and e-mail) in one
