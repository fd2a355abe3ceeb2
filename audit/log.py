"""Durable append: the one write every access attempt makes before anything is answered.

The append commits in its own transaction so the caller can hold back the response until the row is on disk.
Any failure surfaces as ``AuditUnavailable``; callers must then return no data (fail closed).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from audit import repository
from audit.direct import DirectAppender
from audit.events import AuditEvent, EventRef


class AuditUnavailable(Exception):
    """The event could not be made durable."""


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        assert isinstance(engine, AsyncEngine), "the audit log needs a session factory bound to an engine"
        self._engine = engine
        # The lookup's append on PostgreSQL: asyncpg directly, on the engine's connections (audit.direct).
        self.direct = DirectAppender(engine) if DirectAppender.supports(engine) else None

    async def append(self, event: AuditEvent) -> EventRef:
        """One autocommitted INSERT: durable when this returns, in a single round trip."""
        try:
            async with self._engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                seq = await repository.insert_event(autocommit, event)
        except Exception as exc:  # any failure at all means the event is not durable: fail closed
            raise AuditUnavailable(type(exc).__name__) from None
        return EventRef(event_id=event.event_id, seq=seq)

    async def append_in(self, session: AsyncSession, event: AuditEvent) -> EventRef:
        """Insert in the caller's transaction: a consent use and its event commit together, or neither."""
        seq = await repository.insert_event(session, event)
        return EventRef(event_id=event.event_id, seq=seq)

    async def append_with(
        self,
        executor: AsyncSession | AsyncConnection,
        event: AuditEvent,
        companion: Insert,
        params: Mapping[str, Any],
    ) -> EventRef:
        """Insert ``event`` and a caller's ``companion`` write (named parameters ``params``) together.

        On PostgreSQL the companion rides along as a data-modifying CTE of the event's INSERT: one
        statement, one round trip, one plan, and the two rows cannot exist one without the other even
        outside a transaction. SQLite has no DML in CTEs: there they are two statements, which the caller's
        transaction (or :meth:`append_alone`'s) binds together.
        """
        values = repository.event_params(event)
        if _dialect(executor) == "postgresql":
            seq = (await executor.execute(_joined(companion), {**values, **params})).scalar_one()
        else:
            seq = (await executor.execute(repository.INSERT_EVENT_BOUND, values)).scalar_one()
            await executor.execute(companion, dict(params))
        return EventRef(event_id=event.event_id, seq=int(seq))

    async def append_alone(self, event: AuditEvent, companion: Insert, params: Mapping[str, Any]) -> EventRef:
        """:meth:`append_with` as a unit of work of its own, durable when this returns.

        On PostgreSQL, an autocommitted single statement: no BEGIN and no COMMIT round trips, which is what
        the lookup (whose only write is its event) pays on every request, sent on asyncpg directly
        (``audit.direct``). Any failure raises ``AuditUnavailable``: the caller must then answer nothing
        (fail closed).
        """
        try:
            if self.direct is not None:
                values = {**repository.event_params(event), **params}
                seq = await self.direct.fetchval(_joined(companion), values)
                return EventRef(event_id=event.event_id, seq=int(seq))
            async with self._engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    return await self.append_with(autocommit, event, companion, params)
                ref = await self.append_with(conn, event, companion, params)
                await conn.commit()
                return ref
        except Exception as exc:  # any failure at all means the event is not durable: fail closed
            raise AuditUnavailable(type(exc).__name__) from None

    async def append_alone_if(
        self,
        event: AuditEvent,
        guard: tuple[Sequence[CTE], ColumnElement[bool]],
        companion: Insert,
        params: Mapping[str, Any],
    ) -> EventRef | None:
        """:meth:`append_alone` made conditional on a caller's writes in the same statement (PostgreSQL).

        ``guard`` is the caller's CTEs and the condition they make true (a consent use that counted, which
        writes nothing unless it counts); the event and its ``companion`` (whose statement must carry the same
        condition) are written only with them. One autocommitted statement: all of it is durable when this
        returns an ``EventRef``, and none of it when it returns ``None``. Any failure is ``AuditUnavailable``.
        """
        if self.direct is None:
            raise RuntimeError("append_alone_if needs PostgreSQL over asyncpg (audit.direct)")
        ctes, condition = guard
        try:
            values = {**repository.event_params(event), **params}
            seq = await self.direct.fetchval(_guarded(tuple(ctes), condition, companion), values)
        except Exception as exc:  # the statement's outcome is unknown: fail closed
            raise AuditUnavailable(type(exc).__name__) from None
        return None if seq is None else EventRef(event_id=event.event_id, seq=int(seq))

    async def recent(self, limit: int = 20) -> list[dict[str, object]]:
        """The newest events, newest first, as plain dicts (for operators' terminals and tests)."""
        async with self._sessions() as session:
            rows = await repository.recent_events(session, limit)
        return [repository.row_dict(row) for row in rows]


@functools.cache
def _joined(companion: Insert) -> Insert:
    """The event's INSERT with ``companion`` as its CTE, built once per companion (callers pass module-level
    statements; SQL constructs hash by identity), so SQLAlchemy's compiled cache is hit every time."""
    return repository.INSERT_EVENT_BOUND.add_cte(companion.cte("companion"))


@functools.cache
def _guarded(ctes: tuple[CTE, ...], condition: ColumnElement[bool], companion: Insert) -> Insert:
    """The conditional event INSERT with the guard's CTEs and the companion, built once per combination
    (module-level constructs hash by identity, so the compiled statement is reused)."""
    return repository.insert_event_if(condition).add_cte(*ctes, companion.cte("companion"))


def _dialect(executor: AsyncSession | AsyncConnection) -> str:
    if isinstance(executor, AsyncConnection):
        return executor.dialect.name
    return executor.get_bind().dialect.name
