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
from typing import Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository
from audit.events import AuditEvent, iso
from audit.repository import LeafRecord

Format = Literal["csv", "jsonl"]
_JSONL = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
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


def _encode(records: list[LeafRecord], fmt: Format, header: bool) -> bytes:
    rows = []
    for index, data, simple in records:
        data["leaf_index"] = index  # the records are this export's own
        rows.append((data, simple))
    if fmt == "jsonl":
        # orjson's sorted output equals the standard library's for the simple records (see repository).
        return b"".join(
            orjson.dumps(r, option=_JSONL)
            if simple
            else json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            for r, simple in rows
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for r, _ in rows:
        writer.writerow(
            ["|".join(r[c]) if c == "fields" else ("" if r[c] is None else r[c]) for c in COLUMNS]
        )
    return buffer.getvalue().encode()


def _conditions(filters: ExportFilter) -> list[repository.Condition]:
    conditions: list[repository.Condition] = []
    if filters.since:
        conditions.append(("occurred_at", ">=", filters.since))
    if filters.until:
        conditions.append(("occurred_at", "<", filters.until))
    if filters.org:
        conditions.append(("actor_org", "=", filters.org))
    if filters.document_type:
        conditions.append(("document_type", "=", filters.document_type))
    if filters.kind:
        conditions.append(("kind", "=", filters.kind))
    return conditions


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    filters: ExportFilter,
    tree_size: int,
    fmt: Format,
    batch_size: int = 1000,  # two batches are held (one read ahead): constant memory
) -> AsyncIterator[bytes]:
    first = True
    # Leaf records straight from the rows (see repository), the next batch read while this one is encoded.
    batches = repository.leaf_batches(sessions, batch_size, tree_size, _conditions(filters))
    async for records, _ in batches:
        if not records and not first:
            return
        chunk = _encode(records, fmt, header=first)
        first = False
        if chunk:
            yield chunk


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


def export_event(
    filters: ExportFilter,
    fmt: Format,
    tree_size: int,
    actor_id: str,
    actor_org: str | None,
    request_id: str | None = None,
) -> AuditEvent:
    """An export is itself an access: recorded with its filter, format and pinned size, before any byte."""
    description = json.dumps({**filters.describe(), "format": fmt, "tree_size": tree_size}, sort_keys=True)
    return AuditEvent(
        kind="export",
        actor_kind="auditor",
        actor_id=actor_id,
        actor_org=actor_org,
        outcome="ok",
        purpose_code="audit-export",
        purpose_text=description[:500],
        request_id=request_id,
    )
