"""A resident's own access history, newest first, each entry with its inclusion proof.

Entries are selected by the resident's subject commitment and nothing else, so no filter, cursor or index a
caller sends can reach another person's entries. Entries whose ``visible_from`` lies in the future are
withheld (they are in the Merkle log already; only their disclosure is delayed).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import proofs, repository
from audit.events import AuditEvent, iso
from audit.merkle import leaf_hash
from audit.models import AuditEventRow


@dataclass(frozen=True)
class HistoryFilter:
    since: datetime | None = None
    until: datetime | None = None
    document_type: str | None = None
    org: str | None = None
    outcome: str | None = None


@dataclass
class HistoryPage:
    entries: list[dict[str, Any]]
    next_cursor: str | None
    checkpoint: str | None
    tree_size: int
    pending: int = field(default=0)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s"):
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc


async def page(
    session: AsyncSession,
    subject_commitment: str,
    now: datetime,
    filters: HistoryFilter,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    query = select(AuditEventRow).where(
        AuditEventRow.subject_commitment == subject_commitment,
        or_(AuditEventRow.visible_from.is_(None), AuditEventRow.visible_from <= now),
    )
    if cursor:
        query = query.where(AuditEventRow.seq < decode_cursor(cursor))
    if filters.since:
        query = query.where(AuditEventRow.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEventRow.occurred_at < filters.until)
    if filters.document_type:
        query = query.where(AuditEventRow.document_type == filters.document_type)
    if filters.org:
        query = query.where(AuditEventRow.actor_org == filters.org)
    if filters.outcome:
        query = query.where(AuditEventRow.outcome == filters.outcome)
    rows = (await session.execute(query.order_by(AuditEventRow.seq.desc()).limit(limit + 1))).scalars().all()
    latest = await repository.latest_checkpoint(session)
    size = latest.tree_size if latest else 0
    shown = rows[:limit]
    proven = [row.leaf_index for row in shown if row.leaf_index is not None and row.leaf_index < size]
    paths = await proofs.inclusions(session, proven, size, size) if proven else {}
    entries = []
    for row in shown:
        hashes = paths.get(row.leaf_index) if row.leaf_index is not None else None
        proof = None
        if hashes is not None:
            proof = {"tree_size": size, "hashes": [base64.b64encode(h).decode() for h in hashes]}
        entries.append(
            {
                "event_id": row.event_id,
                "leaf_index": row.leaf_index,
                "leaf_hash": base64.b64encode(leaf_hash(AuditEvent.from_row(row).leaf_bytes())).decode(),
                "occurred_at": iso(row.occurred_at),
                "kind": row.kind,
                "actor": {"kind": row.actor_kind, "org": row.actor_org},
                "document_type": row.document_type,
                "view": row.view,
                "fields": list(row.fields or []),
                "purpose": {"code": row.purpose_code, "text": row.purpose_text},
                "basis": row.basis,
                "outcome": row.outcome,
                "reason": row.reason,
                "inclusion_proof": proof,
            }
        )
    next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return HistoryPage(entries, next_cursor, latest.note if latest else None, size)
