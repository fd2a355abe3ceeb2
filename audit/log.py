"""Durable append: the one write every access attempt makes before anything is answered.

The append commits in its own transaction so the caller can hold back the response until the row is on disk.
Any failure surfaces as ``AuditUnavailable``; callers must then return no data (fail closed).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from audit import repository
from audit.events import AuditEvent, EventRef


class AuditUnavailable(Exception):
    """The event could not be made durable."""


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        assert isinstance(engine, AsyncEngine), "the audit log needs a session factory bound to an engine"
        self._engine = engine

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

    async def recent(self, limit: int = 20) -> list[dict[str, object]]:
        """The newest events, newest first, as plain dicts (for operators' terminals and tests)."""
        async with self._sessions() as session:
            rows = await repository.recent_events(session, limit)
        return [repository.row_dict(row) for row in rows]
