"""Auditor export: every integrated event in a filter, streamed, with a signed manifest.

An export is pinned to a tree size so that it is reproducible: the same filter and size always give the same
bytes, which is what lets the manifest (row count, SHA-256 of the body, tree size and root) be computed
separately and checked by anyone who holds the body. Rows are read in keyset-paginated batches, so memory
stays constant however large the export.

:class:`ExportService` is the one orchestration of an export (pin the size, record the export as an access in
the caller's transaction, stream the body, sign the manifest). The API, the auditor console and the
``gongyu audit export`` command all go through it, so an export is pinned, audited and signed the same way
whichever face it was asked from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository
from audit.events import AuditEvent
from audit.filters import EventFilter
from audit.repository import LeafRecord

Format = Literal["csv", "jsonl"]
_JSONL = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
COLUMNS = (
    *("leaf_index", "event_id", "occurred_at", "kind", "actor_kind", "actor_id", "actor_org"),
    *("subject_commitment", "document_type", "view", "fields", "purpose_code", "purpose_text", "basis"),
    *("outcome", "reason", "request_id", "visible_from"),
)


# An export's filter is the one every audit read takes; the name stays for existing callers.
ExportFilter = EventFilter

# A spreadsheet opening the CSV treats a cell starting with one of these as a formula (CWE-1236): a purpose
# text or reason such as ``=HYPERLINK(...)`` written by a client would run in the auditor's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet reads as a formula: text starting like one gets a leading ``'``.

    Only the CSV is neutralised. It is a report for people; the JSONL export stays byte-exact, because that is
    what ``gongyu audit verify --url`` (``audit.remote``) and anyone else recompute leaf hashes from. A CSV
    cell with the added quote no longer hashes to its leaf, so verify from JSONL, never from CSV.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
    # With "\n" as the line terminator the writer leaves a bare "\r" unquoted, which readers take for a line
    # break; such (rare, client-written) rows are written fully quoted, every other row keeps its bytes.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    if header:
        writer.writerow(COLUMNS)
    for r, _ in rows:
        cells = [
            csv_cell("|".join(r[c]) if c == "fields" else ("" if r[c] is None else r[c])) for c in COLUMNS
        ]
        (quoted if any(isinstance(v, str) and "\r" in v for v in cells) else writer).writerow(cells)
    return buffer.getvalue().encode()


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    filters: EventFilter,
    tree_size: int,
    fmt: Format,
    batch_size: int = 1000,  # two batches are held (one read ahead): constant memory
) -> AsyncIterator[bytes]:
    """The export's body: on PostgreSQL written by the server through COPY, elsewhere in keyset batches.

    Both give the same bytes (``tests/integration/test_export_copy.py`` compares them on awkward rows).
    """
    async with sessions() as probe:
        postgres = repository.is_postgres(probe)
    chunks = _copied(sessions, filters, tree_size, fmt) if postgres else None
    async for chunk in chunks or keyset_stream(sessions, filters, tree_size, fmt, batch_size):
        yield chunk


async def _copied(
    sessions: async_sessionmaker[AsyncSession], filters: EventFilter, tree_size: int, fmt: Format
) -> AsyncIterator[bytes]:
    """``repository.copy_lines`` with its ``#<leaf>`` lines (rows the server cannot write) written here."""
    if fmt == "csv":
        yield _encode([], fmt, header=True)
    async with sessions() as session, sessions() as other:
        async for block in repository.copy_lines(session, fmt, tree_size, filters):
            if not (block.startswith(b"#") or b"\n#" in block):
                yield block
                continue
            out = bytearray()
            for line in block.split(b"\n")[:-1]:  # a block is whole lines; no line holds a raw line break
                if not line.startswith(b"#"):
                    out += line + b"\n"
                    continue
                index = int(line[1:].split(b",", 1)[0])
                records = await repository.leaf_records(other, index - 1, 1, index + 1)
                out += _encode(records, fmt, header=False)
            yield bytes(out)


async def keyset_stream(
    sessions: async_sessionmaker[AsyncSession],
    filters: EventFilter,
    tree_size: int,
    fmt: Format,
    batch_size: int = 1000,
) -> AsyncIterator[bytes]:
    """The export's body read in keyset-paginated batches (SQLite; and the reference the COPY path equals)."""
    first = True
    # Leaf records straight from the rows (see repository), the next batch read while this one is encoded.
    batches = repository.leaf_batches(sessions, batch_size, tree_size, filters)
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
    filters: EventFilter,
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
    filters: EventFilter,
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


# --------------------------------------------------------------------------- the one export orchestration


class NoCheckpoint(LookupError):
    """The log has no signed checkpoint yet, so there is no tree size to pin an export to."""


@dataclass(frozen=True)
class Exporter:
    """Who asks for an export, as its audit event names them."""

    actor_id: str
    actor_org: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class ExportBody:
    """An export whose audit event is written: its pinned size and its body, read when iterated.

    ``chunks`` reads nothing until it is iterated, with sessions of its own; the caller commits the
    transaction holding the export's event first, so no byte leaves before the access is on record.
    """

    tree_size: int
    fmt: Format
    filters: EventFilter
    chunks: AsyncIterator[bytes]
