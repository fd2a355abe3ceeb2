"""One request, one transaction: the session a request's services share, committed at the edge.

Services take the request's ``AsyncSession``, ``flush()`` when they need ids and never ``commit()``; the
request dependency (:func:`hub.deps.request_session`) commits once the route has returned and before the
response is sent, so a state change and its audit event (and, later, its outbox row) become durable together
or not at all. A failed commit is answered as ``503 audit-unavailable``: the caller is told nothing happened,
and nothing did.

The lookup is the one path that commits in the middle (:meth:`commit_now`): the consent use and the audit
event must be durable *before* any field is handed back, and the connection must not be held open while the
holding agency answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent, AuditLog, EventRef
from consent import GuardedUse
from hub.errors import Problem
from hub.notify import outbox


class AuditUnavailableProblem(Problem):
    """The transaction carrying an audit event did not commit: answer 503 and release nothing."""

    def __init__(self) -> None:
        super().__init__(503, "audit-unavailable", headers={"Retry-After": "5"})


async def commit_now(session: AsyncSession) -> None:
    """Make everything written so far durable, or roll it back and raise the fail-closed 503."""
    try:
        await session.commit()
    except Exception:
        raise await fail_closed(session) from None


async def release(session: AsyncSession) -> None:
    """End a request's session: closed only when it still holds a transaction (and so a connection).

    A session that committed, rolled back or never began holds nothing, and ``close()`` would only cost a
    greenlet round trip into SQLAlchemy's sync core on every request (measured on the lookup's hot path).
    """
    if session.in_transaction():
        await session.close()


async def fail_closed(session: AsyncSession) -> AuditUnavailableProblem:
    """Undo what a failed unit of work wrote and hand back the 503 to raise: nothing happened, nothing leaves.

    If even the rollback fails (the connection is gone), the answer is still the 503, never a 500.
    """
    with contextlib.suppress(Exception):
        await session.rollback()
    return AuditUnavailableProblem()


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work outside a request (CLI, worker, tests): commit on success, roll back on any error."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await commit_now(session)


@asynccontextmanager
async def request_unit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A request's unit of work: committed when the body ends, before any response is sent; rolled back on
    any exception; closed only if it still holds a transaction (:func:`release`). A failed commit has rolled
    back already and raises the fail-closed 503."""
    session = sessions()
    try:
        try:
            yield session
        except BaseException:
            if session.in_transaction():
                await session.rollback()
            raise
        if session.in_transaction():
            await commit_now(session)
    finally:
        await release(session)


class Trail:
    """What a state change writes beside itself in its transaction: its audit event and its outbox rows.

    Services call :meth:`record` after making their change in the same session. If the event cannot be
    written the whole transaction is rolled back here, before the caller sees the error, so that a page
    which turns the error into a friendly message cannot commit the change without its record.
    """

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def record(self, session: AsyncSession, event: AuditEvent) -> EventRef:
        try:
            if outbox.plain(event):
                # The event and its notices in one statement (PostgreSQL) that also decides the channels.
                ref = await self.audit.append_with(session, event, *outbox.resident_notices(event))
            else:
                ref = await self.audit.append_in(session, event)
                # The notifications outbox joins here: its rows for this event go into the same session, so a
                # notice exists exactly when its event committed; a failed insert fails the change closed too.
                await outbox.announce(session, event)
        except Exception:
            raise await fail_closed(session) from None
        return ref

    async def record_alone(self, session: AsyncSession, event: AuditEvent) -> EventRef:
        """Record an event that is a whole unit of work by itself, durable when this returns.

        A lookup's release writes nothing but its event and notices: on PostgreSQL they go out as one
        autocommitted statement (no BEGIN, no COMMIT: one round trip where a transaction takes four), on the
        pool rather than on ``session``, which must hold no open transaction. Other events take the ordinary
        path on ``session`` and are committed here.
        """
        if session.in_transaction():
            raise RuntimeError("record_alone: the session holds a transaction; use record() and commit it")
        if not outbox.plain(event):
            ref = await self.record(session, event)
            await commit_now(session)
            return ref
        try:
            return await self.audit.append_alone(event, *outbox.resident_notices(event))
        except Exception:  # AuditUnavailable, or anything else: the event is not durable, nothing leaves
            raise AuditUnavailableProblem() from None

    @property
    def joins_uses(self) -> bool:
        """Whether :meth:`record_use` can write a consent use and its event as one statement here."""
        return self.audit.direct is not None

    async def record_use(
        self, event: AuditEvent, use: GuardedUse, use_params: Mapping[str, Any]
    ) -> EventRef | None:
        """A consent-based lookup's event and notices, written only with the consent use they record.

        One autocommitted statement on PostgreSQL: the use (counted only if the consent is active and the
        document has a use left), its lifecycle row, the event and the notices, all durable when this
        returns an ``EventRef``; ``None`` when the use did not count, and then nothing was written (the
        caller records the refusal). The same all-or-nothing the transaction of :meth:`record` gives, in one
        round trip instead of four. A failure is the fail-closed 503.
        """
        if not outbox.plain(event):  # pragma: no cover - a lookup's event always is
            raise RuntimeError("record_use: only an event whose notices need no reads")
        companion, params = outbox.resident_notices(event, only_if=use.counted)
        try:
            return await self.audit.append_alone_if(
                event, (use.ctes, use.counted), companion, {**params, **use_params}
            )
        except Exception:  # AuditUnavailable, or anything else: nothing is known durable, nothing leaves
            raise AuditUnavailableProblem() from None
