"""Durable append: the one write every access attempt makes before anything is answered.

The append commits in its own transaction so the caller can hold back the response until the row is on disk.
Any failure surfaces as ``AuditUnavailable``; callers must then return no data (fail closed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from audit.events import AuditEvent, EventRef
from audit.models import AuditEventRow


class AuditUnavailable(Exception):
    """The event could not be made durable."""


# One statement object for every append: SQLAlchemy caches its compiled form.
_INSERT = insert(AuditEventRow).returning(AuditEventRow.seq)


def _values(event: AuditEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "kind": event.kind,
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_org": event.actor_org,
        "subject_commitment": event.subject_commitment,
        "document_type": event.document_type,
        "view": event.view,
        "fields": list(event.fields),
        "purpose_code": event.purpose_code,
        "purpose_text": event.purpose_text,
        "basis": event.basis,
        "outcome": event.outcome,
        "reason": event.reason,
        "request_id": event.request_id,
        "visible_from": event.visible_from,
    }


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
                seq = (await autocommit.execute(_INSERT, _values(event))).scalar_one()
        except Exception as exc:  # any failure at all means the event is not durable: fail closed
            raise AuditUnavailable(type(exc).__name__) from None
        return EventRef(event_id=event.event_id, seq=seq)

    async def append_in(self, session: AsyncSession, event: AuditEvent) -> EventRef:
        """Insert in the caller's transaction: a consent use and its event commit together, or neither."""
        seq = (await session.execute(_INSERT, _values(event))).scalar_one()
        return EventRef(event_id=event.event_id, seq=seq)

    async def recent(self, limit: int = 20) -> list[dict[str, object]]:
        """The newest events, newest first, as plain dicts (for operators' terminals and tests)."""
        async with self._sessions() as session:
            rows = (
                (await session.execute(select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(limit)))
                .scalars()
                .all()
            )
        return [
            {column.key: getattr(row, column.key) for column in AuditEventRow.__table__.columns}
            for row in rows
        ]
