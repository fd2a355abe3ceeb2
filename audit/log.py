"""Durable append: the one write every access attempt makes before anything is answered.

The append commits in its own transaction so the caller can hold back the response until the row is on disk.
Any failure surfaces as ``AuditUnavailable``; callers must then return no data (fail closed).
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.events import AuditEvent, EventRef
from audit.models import AuditEventRow


class AuditUnavailable(Exception):
    """The event could not be made durable."""


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def append(self, event: AuditEvent) -> EventRef:
        try:
            async with self._sessions() as session, session.begin():
                return await self.append_in(session, event)
        except Exception as exc:  # any failure at all means the event is not durable: fail closed
            raise AuditUnavailable(type(exc).__name__) from None

    async def append_in(self, session: AsyncSession, event: AuditEvent) -> EventRef:
        """Insert in the caller's transaction: a consent use and its event commit together, or neither."""
        values = {
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
        seq = (
            await session.execute(insert(AuditEventRow).values(**values).returning(AuditEventRow.seq))
        ).scalar_one()
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
