"""Auditor export: every integrated event in a filter, streamed, with a signed manifest.

An export is pinned to a tree size so that it is reproducible: the same filter and size always give the same
bytes, which is what lets the manifest (row count, SHA-256 of the body, tree size and root) be computed
separately and checked by anyone who holds the body. Rows are read in keyset-paginated batches, so memory
stays constant however large the export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.events import AuditEvent, iso
from audit.models import AuditEventRow

Format = Literal["csv", "jsonl"]
COLUMNS = (
    *("leaf_index", "event_id", "occurred_at", "kind", "actor_kind", "actor_id", "actor_org"),
    *("subject_commitment", "document_type", "view", "fields", "purpose_code", "purpose_text", "basis"),
    *("outcome", "reason", "request_id", "visible_from"),
)


@dataclass(frozen=True)
class ExportFilter:
    since: datetime | None = None
    until: datetime | None = None
    org: str | None = None
    document_type: str | None = None
    kind: str | None = None

    def describe(self) -> dict[str, str | None]:
        return {k: (iso(v) if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


def _record(row: Any) -> dict[str, Any]:
    data = AuditEvent.from_row(row).as_leaf_dict()
    data["leaf_index"] = row.leaf_index
    return data


def _encode(rows: list[dict[str, Any]], fmt: Format, header: bool) -> bytes:
    if fmt == "jsonl":
        return b"".join(
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            for r in rows
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(
            ["|".join(r[c]) if c == "fields" else ("" if r[c] is None else r[c]) for c in COLUMNS]
        )
    return buffer.getvalue().encode()


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    filters: ExportFilter,
    tree_size: int,
    fmt: Format,
    batch_size: int = 2000,
) -> AsyncIterator[bytes]:
    last = -1
    first = True
    while True:
        # Core rows, not ORM objects: an export touches every row once and identity-mapping them costs ~3x.
        query = select(AuditEventRow.__table__).where(
            AuditEventRow.leaf_index > last, AuditEventRow.leaf_index < tree_size
        )
        if filters.since:
            query = query.where(AuditEventRow.occurred_at >= filters.since)
        if filters.until:
            query = query.where(AuditEventRow.occurred_at < filters.until)
        if filters.org:
            query = query.where(AuditEventRow.actor_org == filters.org)
        if filters.document_type:
            query = query.where(AuditEventRow.document_type == filters.document_type)
        if filters.kind:
            query = query.where(AuditEventRow.kind == filters.kind)
        async with sessions() as session:
            rows = (await session.execute(query.order_by(AuditEventRow.leaf_index).limit(batch_size))).all()
        if not rows and not first:
            return
        chunk = _encode([_record(r) for r in rows], fmt, header=first)
        first = False
        if chunk:
            yield chunk
        if len(rows) < batch_size:
            return
        last = int(rows[-1].leaf_index or 0)


@dataclass(frozen=True)
class Manifest:
    format: str
    filter: dict[str, str | None]
    tree_size: int
    root_hash: str
    rows: int
    sha256: str
    size_bytes: int

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


async def manifest(
    sessions: async_sessionmaker[AsyncSession],
    filters: ExportFilter,
    tree_size: int,
    root_b64: str,
    fmt: Format,
) -> Manifest:
    digest = hashlib.sha256()
    rows = 0
    size = 0
    async for chunk in stream(sessions, filters, tree_size, fmt):
        digest.update(chunk)
        size += len(chunk)
        rows += chunk.count(b"\n")
    if fmt == "csv":
        rows -= 1  # the header line
    return Manifest(fmt, filters.describe(), tree_size, root_b64, rows, digest.hexdigest(), size)
