"""The auditor's view of the log: every event, newest first, filtered, in keyset-paginated pages.

Unlike a resident's history (``audit.history``) this is not limited to one subject and shows what the log
holds for auditors: actor ids and subject commitments (never a resident number; the log has none), events
whose disclosure to the resident is delayed, and events the integrator has not sequenced yet (``leaf_index``
None).
Pages are keyed on the append sequence, so paging is stable while new events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from audit import repository
from audit.events import iso
from audit.filters import EventFilter, decode_cursor, encode_cursor
from audit.models import AuditEventRow

__all__ = ["MAX_LIMIT", "EventEntry", "EventFilter", "EventPage", "page"]

MAX_LIMIT = 200


@dataclass(frozen=True)
class EventEntry:
    event_id: str
    leaf_index: int | None
    occurred_at: str
    kind: str
    actor_kind: str
    actor_id: str
    actor_org: str | None
    subject_commitment: str | None
    document_type: str | None
    view: str | None
    fields: tuple[str, ...]
    purpose_code: str | None
    purpose_text: str | None
    basis: str | None
    outcome: str
    reason: str | None
    request_id: str | None
    visible_from: str | None


@dataclass(frozen=True)
class EventPage:
    entries: list[EventEntry]
    next_cursor: str | None


def _entry(row: AuditEventRow) -> EventEntry:
    return EventEntry(
        event_id=row.event_id,
        leaf_index=row.leaf_index,
        occurred_at=iso(row.occurred_at),
        kind=row.kind,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_org=row.actor_org,
        subject_commitment=row.subject_commitment,
        document_type=row.document_type,
        view=row.view,
        fields=tuple(str(name) for name in row.fields or ()),
        purpose_code=row.purpose_code,
        purpose_text=row.purpose_text,
        basis=row.basis,
        outcome=row.outcome,
        reason=row.reason,
        request_id=row.request_id,
        visible_from=iso(row.visible_from) if row.visible_from is not None else None,
    )


async def page(session: AsyncSession, filters: EventFilter, cursor: str | None, limit: int) -> EventPage:
    """One page of events matching ``filters``, newest first; ``ValueError`` for a malformed cursor."""
    limit = max(1, min(limit, MAX_LIMIT))
    before = decode_cursor(cursor) if cursor else None
    rows = await repository.event_page(session, filters, limit + 1, before_seq=before)
    next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return EventPage([_entry(row) for row in rows[:limit]], next_cursor)
