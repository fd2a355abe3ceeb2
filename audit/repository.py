"""All SQL on the audit tables lives here; the rest of the package works on plain values.

Reads of events are described by one ``audit.filters.EventFilter``; :func:`conditions` is the only place a
filter becomes predicates, rendered either as SQLAlchemy clauses (:func:`event_page`, the SQLite path of
:func:`leaf_records`) or as asyncpg parameters (the PostgreSQL bulk path), so history, the auditor's list,
the export and the console cannot drift apart again.

The one exception is ``audit.synthetic``, the benchmark seeder: it bulk-loads on synchronous connections of
its own, outside any request, and is not a reader or writer of the running log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from audit.events import AuditEvent, canonical_json, iso
from audit.filters import EventFilter
from audit.models import AuditCheckpointRow, AuditEventRow, AuditNodeRow
from audit.tree import NodeId

# One statement object for every append: SQLAlchemy caches its compiled form.
_INSERT_EVENT = insert(AuditEventRow).returning(AuditEventRow.seq)
_EVENT_COLUMNS = (
    "event_id", "occurred_at", "kind", "actor_kind", "actor_id", "actor_org", "subject_commitment",
    "document_type", "view", "fields", "purpose_code", "purpose_text", "basis", "outcome", "reason",
    "request_id", "visible_from",
)  # fmt: skip
EVENT_PARAM_PREFIX = "ev_"
# The same append with every value a named parameter (``ev_<column>``), so that a caller can attach a
# companion write as a CTE and send both in one statement (``hub.uow``: the event and its notices).
# Core, not ORM: a session would take an ORM insert with a CTE through its bulk path and lose the RETURNING.
_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
INSERT_EVENT_BOUND = (
    insert(_EVENTS)
    .values(
        {name: bindparam(EVENT_PARAM_PREFIX + name, type_=_EVENTS.c[name].type) for name in _EVENT_COLUMNS}
    )
    .returning(_EVENTS.c.seq)
)


def insert_event_if(condition: ColumnElement[bool]) -> Insert:
    """:data:`INSERT_EVENT_BOUND` as ``INSERT ... SELECT ... WHERE condition``: the event is written only
    when ``condition`` holds (a consent use counted by CTEs of the same statement); otherwise no row, no
    ``seq``."""
    values = [bindparam(EVENT_PARAM_PREFIX + name, type_=_EVENTS.c[name].type) for name in _EVENT_COLUMNS]
    chosen = select(*values).where(condition)
    return insert(_EVENTS).from_select(list(_EVENT_COLUMNS), chosen).returning(_EVENTS.c.seq)


def event_values(event: AuditEvent) -> dict[str, Any]:
    """The row of ``event``, by column name."""
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


def event_params(event: AuditEvent) -> dict[str, Any]:
    """The parameters of :data:`INSERT_EVENT_BOUND` for ``event``."""
    return {EVENT_PARAM_PREFIX + name: value for name, value in event_values(event).items()}


async def insert_event(executor: AsyncSession | AsyncConnection, event: AuditEvent) -> int:
    """Insert one event on a session (the caller's transaction) or a connection (autocommit); its ``seq``."""
    return int((await executor.execute(_INSERT_EVENT, event_values(event))).scalar_one())


async def tree_size(session: AsyncSession) -> int:
    highest = (await session.execute(select(func.max(AuditEventRow.leaf_index)))).scalar_one_or_none()
    return 0 if highest is None else int(highest) + 1


# Built once: a reader's statements are parsed and keyed on every call otherwise (a proof's CPU, issue 17).
_NODES_BY_ID = text(
    "SELECT n.level, n.idx, n.hash"
    " FROM unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS w(level, idx)"
    " JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx"
)
_NODES_BY_SPAN = text(
    "SELECT n.level, n.idx, n.hash FROM unnest(CAST(:levels AS smallint[]),"
    " CAST(:los AS bigint[]), CAST(:his AS bigint[])) AS w(level, lo, hi)"
    " JOIN audit_nodes n ON n.level = w.level AND n.idx >= w.lo AND n.idx < w.hi"
)


async def read_nodes(
    session: AsyncSession, ids: Iterable[NodeId], ranges: Sequence[tuple[int, int, int]] = ()
) -> dict[NodeId, bytes]:
    """The stored hashes of ``ids`` and of every node in ``ranges`` (``(level, lo, hi)``: lo <= idx < hi).

    One statement on PostgreSQL (a reader's upper-level refresh rides along with a proof's own nodes);
    on SQLite the ranges go with the first chunk of ids.
    """
    wanted = sorted(set(ids))
    found: dict[NodeId, bytes] = {}
    if (wanted or ranges) and _is_postgres(session):
        if not ranges:
            # One index probe per node through a join; a long row-IN list costs more to plan than to run.
            rows = await session.execute(
                _NODES_BY_ID, {"levels": [level for level, _ in wanted], "idxs": [idx for _, idx in wanted]}
            )
            return {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}
        spans = [*ranges, *((level, idx, idx + 1) for level, idx in wanted)]
        rows = await session.execute(
            _NODES_BY_SPAN,
            {
                "levels": [level for level, _, _ in spans],
                "los": [lo for _, lo, _ in spans],
                "his": [hi for _, _, hi in spans],
            },
        )
        return {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}
    # Chunked so a pathological request cannot build an unbounded IN list.
    spans_clause = [
        and_(AuditNodeRow.level == level, AuditNodeRow.idx >= lo, AuditNodeRow.idx < hi)
        for level, lo, hi in ranges
    ]
    for start in range(0, max(len(wanted), 1 if ranges else 0), 500):
        chunk = wanted[start : start + 500]
        clauses: list[ColumnElement[bool]] = []
        if chunk:
            clauses.append(tuple_(AuditNodeRow.level, AuditNodeRow.idx).in_(chunk))
        if start == 0:
            clauses.extend(spans_clause)
        rows = await session.execute(
            select(AuditNodeRow.level, AuditNodeRow.idx, AuditNodeRow.hash).where(or_(*clauses))
        )
        found.update({(int(level), int(idx)): bytes(digest) for level, idx, digest in rows})
    return found


async def pending_events(session: AsyncSession, limit: int) -> Sequence[Any]:
    """Unintegrated events in append order, as Core rows (attribute access, no ORM identity map)."""
    result = await session.execute(
        select(AuditEventRow.__table__)
        .where(AuditEventRow.leaf_index.is_(None))
        .order_by(AuditEventRow.seq)
        .limit(limit)
    )
    return result.all()


async def pending_summary(session: AsyncSession, published_size: int) -> tuple[int, datetime | None]:
    """How many committed events the published checkpoint does not cover yet, and the oldest one's time."""
    row = (
        await session.execute(
            select(func.count(), func.min(AuditEventRow.occurred_at)).where(
                or_(AuditEventRow.leaf_index.is_(None), AuditEventRow.leaf_index >= published_size)
            )
        )
    ).one()
    oldest = row[1]
    if oldest is not None and oldest.tzinfo is None:  # SQLite returns naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), oldest


async def assign_leaf_indices(session: AsyncSession, assignments: Sequence[tuple[int, int]]) -> None:
    """``(seq, leaf_index)`` pairs; only rows still unassigned are touched."""
    if not assignments:
        return
    if _is_postgres(session):
        # One statement for the whole round instead of one UPDATE per row.
        await session.execute(
            text(
                "UPDATE audit_events e SET leaf_index = v.leaf"
                " FROM unnest(CAST(:seqs AS bigint[]), CAST(:leaves AS bigint[])) AS v(seq, leaf)"
                " WHERE e.seq = v.seq AND e.leaf_index IS NULL"
            ),
            {"seqs": [seq for seq, _ in assignments], "leaves": [leaf for _, leaf in assignments]},
        )
        return
    table = AuditEventRow.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(table.c.seq == bindparam("b_seq"), table.c.leaf_index.is_(None))
        .values(leaf_index=bindparam("b_leaf"))
    )
    # One executemany round trip instead of one statement per row.
    await session.execute(statement, [{"b_seq": seq, "b_leaf": leaf} for seq, leaf in assignments])


async def insert_nodes(session: AsyncSession, nodes: dict[NodeId, bytes]) -> None:
    if nodes and _is_postgres(session):
        await session.execute(
            text(
                "INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM"
                " unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[]))"
            ),
            {
                "levels": [level for level, _ in nodes],
                "idxs": [idx for _, idx in nodes],
                "hashes": list(nodes.values()),
            },
        )
    elif nodes:
        await session.execute(
            insert(AuditNodeRow), [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in nodes.items()]
        )


async def insert_checkpoint(session: AsyncSession, size: int, root: bytes, note: str, at: datetime) -> None:
    await session.execute(
        insert(AuditCheckpointRow).values(tree_size=size, root_hash=root, note=note, created_at=at)
    )


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpointRow | None:
    result = await session.execute(
        select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size.desc()).limit(1)
    )
    return result.scalar_one_or_none()


async def checkpoint_at(session: AsyncSession, size: int) -> AuditCheckpointRow | None:
    return await session.get(AuditCheckpointRow, size)


async def event_by_leaf(session: AsyncSession, leaf_index: int) -> AuditEventRow | None:
    result = await session.execute(select(AuditEventRow).where(AuditEventRow.leaf_index == leaf_index))
    return result.scalar_one_or_none()


def _published_with_visibility() -> Select[Any]:
    checkpoints: Table = AuditCheckpointRow.__table__  # type: ignore[assignment]
    newest = checkpoints.c.tree_size.desc()
    return select(
        select(checkpoints.c.tree_size).order_by(newest).limit(1).scalar_subquery(),
        select(checkpoints.c.root_hash).order_by(newest).limit(1).scalar_subquery(),
        select(_EVENTS.c.visible_from).where(_EVENTS.c.leaf_index == bindparam("leaf")).scalar_subquery(),
    )


_PUBLISHED_WITH_VISIBILITY = _published_with_visibility()  # Core and built once: no ORM or coercion per call


async def published_with_visibility(
    session: AsyncSession, leaf_index: int
) -> tuple[int, bytes | None, datetime | None]:
    """The latest checkpoint's size and root, and when the event at ``leaf_index`` may be disclosed to
    residents (:func:`visible_from_at`), in one round trip: a public proof's first read."""
    # One statement, so one snapshot: the size and the root are the same checkpoint's.
    row = (await session.execute(_PUBLISHED_WITH_VISIBILITY, {"leaf": leaf_index})).one()
    size, root, moment = row
    if moment is not None and moment.tzinfo is None:  # SQLite returns naive UTC
        moment = moment.replace(tzinfo=UTC)
    return (int(size), bytes(root), moment) if size is not None else (0, None, moment)


async def visible_from_at(session: AsyncSession, leaf_index: int) -> datetime | None:
    """When the event at ``leaf_index`` may be disclosed to residents; None: from the start, or no leaf."""
    moment = (
        await session.execute(
            select(AuditEventRow.visible_from).where(AuditEventRow.leaf_index == leaf_index)
        )
    ).scalar_one_or_none()
    if moment is not None and moment.tzinfo is None:  # SQLite returns naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment


async def events_by_leaves(session: AsyncSession, leaf_indices: Iterable[int]) -> dict[int, AuditEventRow]:
    """The events at several leaf indices in one statement (a page's leaves, not one query per entry)."""
    wanted = sorted(set(leaf_indices))
    found: dict[int, AuditEventRow] = {}
    for start in range(0, len(wanted), 500):  # bounded IN lists, as in ``read_nodes``
        result = await session.execute(
            select(AuditEventRow).where(AuditEventRow.leaf_index.in_(wanted[start : start + 500]))
        )
        found.update({int(row.leaf_index): row for row in result.scalars() if row.leaf_index is not None})
    return found


async def all_checkpoints(session: AsyncSession) -> Sequence[AuditCheckpointRow]:
    """Every published checkpoint, smallest tree first (the verifier checks each)."""
    result = await session.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size))
    return result.scalars().all()


async def checkpoints_from(session: AsyncSession, smallest: int) -> Sequence[AuditCheckpointRow]:
    """The published checkpoints of size ``smallest`` and above, smallest first (incremental verify)."""
    result = await session.execute(
        select(AuditCheckpointRow)
        .where(AuditCheckpointRow.tree_size >= smallest)
        .order_by(AuditCheckpointRow.tree_size)
    )
    return result.scalars().all()


async def unintegrated_before(session: AsyncSession, cutoff: datetime) -> list[tuple[int, datetime]]:
    """``(seq, occurred_at)`` of events still without a leaf that are dated before ``cutoff``."""
    result = await session.execute(
        select(AuditEventRow.seq, AuditEventRow.occurred_at).where(
            AuditEventRow.leaf_index.is_(None), AuditEventRow.occurred_at < cutoff
        )
    )
    return [(int(seq), occurred) for seq, occurred in result]


async def take_writer_lock(session: AsyncSession, advisory_key: int) -> bool:
    """Make this transaction the only integrator: False if another holds the PostgreSQL advisory lock.

    On SQLite a (no-op) write first takes the RESERVED lock before any read snapshot exists.
    """
    if _is_postgres(session):
        lock = text("SELECT pg_try_advisory_xact_lock(:k)")
        return bool((await session.execute(lock, {"k": advisory_key})).scalar())
    await session.execute(text("UPDATE audit_checkpoints SET tree_size = tree_size WHERE tree_size < 0"))
    return True


async def recent_events(session: AsyncSession, limit: int) -> Sequence[AuditEventRow]:
    """The newest appended events, newest first (integrated or not)."""
    result = await session.execute(select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(limit))
    return result.scalars().all()


# --------------------------------------------------------------------------- the one filter -> SQL builder

Condition = tuple[str, str, Any]  # (column, ">=" | "<" | "=", value)
_FILTER_COLUMNS = frozenset({"occurred_at", "actor_org", "document_type", "kind", "outcome"})
_FILTER_OPS = frozenset({">=", "<", "="})


def conditions(filters: EventFilter) -> list[Condition]:
    """The predicates an ``EventFilter`` stands for, in one fixed order (so equal filters give equal SQL)."""
    found: list[Condition] = []
    if filters.since:
        found.append(("occurred_at", ">=", filters.since))
    if filters.until:
        found.append(("occurred_at", "<", filters.until))
    if filters.org:
        found.append(("actor_org", "=", filters.org))
    if filters.document_type:
        found.append(("document_type", "=", filters.document_type))
    if filters.kind:
        found.append(("kind", "=", filters.kind))
    if filters.outcome:
        found.append(("outcome", "=", filters.outcome))
    return found


def _clauses(table: Table, wanted: Sequence[Condition]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for column, op, value in wanted:
        c = table.c[column]
        clauses.append(c >= value if op == ">=" else c < value if op == "<" else c == value)
    return clauses


def _events_table() -> Table:
    table = AuditEventRow.__table__
    assert isinstance(table, Table)
    return table


def _page_where(
    table: Table,
    filters: EventFilter,
    before_seq: int | None,
    subject_commitment: str | None,
    visible_at: datetime | None,
) -> list[ColumnElement[bool]]:
    where = list(_clauses(table, conditions(filters)))
    if subject_commitment is not None:
        where.append(table.c.subject_commitment == subject_commitment)
    if visible_at is not None:
        where.append(or_(table.c.visible_from.is_(None), table.c.visible_from <= visible_at))
    if before_seq is not None:
        where.append(table.c.seq < before_seq)
    return where


async def event_page(
    session: AsyncSession,
    filters: EventFilter,
    limit: int,
    *,
    before_seq: int | None = None,
    subject_commitment: str | None = None,
    visible_at: datetime | None = None,
) -> Sequence[AuditEventRow]:
    """Up to ``limit`` events matching ``filters``, newest first, keyset-paged on the append sequence.

    ``subject_commitment`` restricts the read to one resident's entries and ``visible_at`` withholds events
    whose disclosure is still delayed; both are the resident history's own scope, set by the reader and
    never taken from the filter, so no filter a caller sends can widen a resident's view.
    """
    where = _page_where(_events_table(), filters, before_seq, subject_commitment, visible_at)
    query = select(AuditEventRow).where(*where).order_by(AuditEventRow.seq.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


@dataclasses.dataclass(frozen=True)
class LatestCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


async def history_page(
    session: AsyncSession,
    filters: EventFilter,
    limit: int,
    *,
    subject_commitment: str,
    visible_at: datetime,
    before_seq: int | None = None,
) -> tuple[Sequence[Any], LatestCheckpoint | None]:
    """:func:`event_page` for one resident's history, as Core rows, with the latest checkpoint.

    The checkpoint rides on each row (three scalar subqueries), so the page and the tree size its proofs
    are for come from one statement and one snapshot, in one round trip instead of two; only a page without
    rows reads the checkpoint on its own.
    """
    table = _events_table()
    newest = AuditCheckpointRow.tree_size.desc()
    latest = [
        select(column).order_by(newest).limit(1).scalar_subquery().label(f"cp_{column.key}")
        for column in (AuditCheckpointRow.tree_size, AuditCheckpointRow.root_hash, AuditCheckpointRow.note)
    ]
    where = _page_where(table, filters, before_seq, subject_commitment, visible_at)
    query = select(table, *latest).where(*where).order_by(table.c.seq.desc()).limit(limit)
    rows = (await session.execute(query)).all()
    if rows:
        first = rows[0]
        checkpoint = (
            LatestCheckpoint(int(first.cp_tree_size), bytes(first.cp_root_hash), first.cp_note)
            if first.cp_tree_size is not None
            else None
        )
        return rows, checkpoint
    row = await latest_checkpoint(session)
    return rows, (LatestCheckpoint(row.tree_size, bytes(row.root_hash), row.note) if row else None)


async def events_in_order(session: AsyncSession, filters: EventFilter, limit: int) -> Sequence[Any]:
    """Up to ``limit`` events matching ``filters`` in append order, as Core rows (no ORM identity map)."""
    table = _events_table()
    query = select(table).where(*_clauses(table, conditions(filters))).order_by(table.c.seq).limit(limit)
    return (await session.execute(query)).all()


def row_dict(row: AuditEventRow) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in AuditEventRow.__table__.columns}


# --------------------------------------------------------------------------- bulk reads for verify and export
#
# Verify and export touch every row once, so they skip the ORM and SQLAlchemy's result processing. On
# PostgreSQL the text columns travel as one JSON array built by the server (asyncpg then decodes 4 columns,
# not 18, and orjson parses the array; JSON escaping round-trips every string exactly), the times as
# timestamptz. Each row becomes the event's leaf dict, exactly what
# ``AuditEvent.from_row(row).as_leaf_dict()`` gives, plus whether it is "simple" (strings, null, a list of
# strings): for those the canonical leaf bytes are ``orjson.dumps(d, option=OPT_SORT_KEYS)``, byte for byte
# what ``events.canonical_json`` produces (the standard library's sorted, separator-free, non-ASCII-escaping
# JSON; the unit tests check every code point). Anything else (only a tampered or hand-edited row can be)
# goes through ``AuditEvent`` itself.

LEAF_KEYS: tuple[str, ...] = tuple(sorted(f.name for f in dataclasses.fields(AuditEvent)))
_TIMES = ("occurred_at", "visible_from")
_PACKED = tuple(k for k in LEAF_KEYS if k not in _TIMES)
_PG_LEAF_ROWS = (
    "SELECT leaf_index, occurred_at, visible_from,"  # noqa: S608 (constant column list)
    f" json_build_array({', '.join(f'{chr(34)}{k}{chr(34)}' for k in _PACKED)})::text"
    " FROM audit_events WHERE leaf_index > $1 AND leaf_index < $2"
)
SORTED = orjson.OPT_SORT_KEYS

LeafRecord = tuple[int, dict[str, Any], bool]
_STR_ONLY = frozenset({str})  # leaf index, leaf dict, simple


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session (same transaction)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def fast_iso(moment: datetime) -> str:
    """``events.iso`` for the UTC and naive datetimes the drivers return, without strftime's cost."""
    if (moment.tzinfo is UTC or moment.tzinfo is None) and moment.year >= 1000:
        text = moment.isoformat(timespec="microseconds")
        return (text[:-6] if moment.tzinfo is UTC else text) + "Z"
    return iso(moment)


def _general(values: dict[str, Any]) -> dict[str, Any]:
    return AuditEvent.from_row(SimpleNamespace(**values)).as_leaf_dict()


def leaf_record(index: int, values: dict[str, Any]) -> LeafRecord:
    """The leaf dict of an event from its column values (``fields`` decoded, times as datetimes)."""
    names = values["fields"]
    occurred, visible = values["occurred_at"], values["visible_from"]
    if (
        any(values[k] is not None and type(values[k]) is not str for k in _PACKED if k != "fields")
        or (names and (type(names) is not list or any(type(name) is not str for name in names)))
        or type(occurred) is not datetime
        or (visible is not None and type(visible) is not datetime)
    ):
        return index, _general(values), False
    data = dict(values)
    data["fields"] = names or []  # from_row reads ``row.fields or ()``
    data["occurred_at"] = fast_iso(occurred)
    data["visible_from"] = None if visible is None else fast_iso(visible)
    return index, data, True


def _pg_record(index: int, occurred: Any, visible: Any, packed: str) -> LeafRecord:
    try:
        data = dict(zip(_PACKED, orjson.loads(packed), strict=True))
    except orjson.JSONDecodeError:
        data = dict(zip(_PACKED, json.loads(packed), strict=True))  # as SQLAlchemy's json codec would
    names = data["fields"]
    if names and (type(names) is not list or not _STR_ONLY.issuperset(map(type, names))):
        return index, _general({**data, "occurred_at": occurred, "visible_from": visible}), False
    # Text columns arrive as JSON strings or null; asyncpg gives timestamptz as aware UTC datetimes.
    data["fields"] = names or []
    data["occurred_at"] = fast_iso(occurred)
    data["visible_from"] = None if visible is None else fast_iso(visible)
    return index, data, True


async def leaf_records(
    session: AsyncSession,
    after: int,
    limit: int,
    below: int = 2**63 - 1,
    filters: EventFilter | None = None,
) -> list[LeafRecord]:
    """Leaf records of the events with ``after < leaf_index < below`` matching ``filters``, in order."""
    wanted = conditions(filters) if filters is not None else []
    for column, op, _ in wanted:  # the PostgreSQL path splices names into SQL: only known ones get there
        if column not in _FILTER_COLUMNS or op not in _FILTER_OPS:
            raise ValueError(f"unsupported condition on {column!r} ({op!r})")
    if _is_postgres(session):
        sql = _PG_LEAF_ROWS + "".join(
            f' AND "{column}" {op} ${n}' for n, (column, op, _) in enumerate(wanted, start=4)
        )
        records = await (await _driver(session)).fetch(
            sql + " ORDER BY leaf_index LIMIT $3", after, below, limit, *(value for _, _, value in wanted)
        )
        return [_pg_record(*record) for record in records]
    table = _events_table()
    query = select(table.c.leaf_index, *(table.c[k] for k in LEAF_KEYS)).where(
        table.c.leaf_index > after, table.c.leaf_index < below, *_clauses(table, wanted)
    )
    result = await session.execute(query.order_by(table.c.leaf_index).limit(limit))
    return [leaf_record(int(row[0]), dict(zip(LEAF_KEYS, row[1:], strict=True))) for row in result]


LeafBatch = tuple[list[LeafRecord], dict[int, bytes]]


async def leaf_batches(
    sessions: async_sessionmaker[AsyncSession],
    batch_size: int,
    below: int = 2**63 - 1,
    filters: EventFilter | None = None,
    with_stored: bool = False,
) -> AsyncIterator[LeafBatch]:
    """Consecutive batches of ``leaf_records`` (and, if asked, the stored leaf hashes of each batch's range).

    The next batch is read while the caller works on the current one, so the database's work and the
    caller's encoding or hashing overlap; at most two batches are held. Stops after the first short batch
    (an empty first batch is still yielded).
    """

    async def fetch(session: AsyncSession, after: int) -> LeafBatch:
        records = await leaf_records(session, after, batch_size, below, filters)
        stored: dict[int, bytes] = {}
        if with_stored and records:
            stored = dict(await level_hashes(session, 0, after + 1, records[-1][0] + 1))
        return records, stored

    async with sessions() as session:
        pending: asyncio.Future[LeafBatch] | None = asyncio.ensure_future(fetch(session, -1))
        try:
            while pending is not None:
                batch = await pending
                pending = None
                if len(batch[0]) == batch_size:
                    pending = asyncio.ensure_future(fetch(session, batch[0][-1][0]))
                    await asyncio.sleep(0)  # send the next query before the caller's CPU work
                yield batch
        finally:
            if pending is not None:  # the caller stopped early: let the read finish rather than cancel it
                with suppress(Exception):
                    await pending


def leaf_bytes(record: LeafRecord) -> bytes:
    """``AuditEvent.from_row(row).leaf_bytes()`` of the record's row, byte for byte."""
    _, data, simple = record
    return orjson.dumps(data, option=SORTED) if simple else canonical_json(data)


async def level_hashes(session: AsyncSession, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
    """Stored ``(idx, hash)`` of one tree level with ``start <= idx < end``, in index order."""
    if _is_postgres(session):
        records = await (await _driver(session)).fetch(
            "SELECT idx, hash FROM audit_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            level,
            start,
            end,
        )
        return [(idx, digest) for idx, digest in records]
    result = await session.execute(
        select(AuditNodeRow.idx, AuditNodeRow.hash)
        .where(AuditNodeRow.level == level, AuditNodeRow.idx >= start, AuditNodeRow.idx < end)
        .order_by(AuditNodeRow.idx)
    )
    return [(int(idx), bytes(digest)) for idx, digest in result]


# --------------------------------------------------------------------------- leaf hashes in bulk (verify)
#
# Verifying a million leaves took 19-20 s, most of it Python turning each row back into the event's dict
# (JSON array unpacked, times formatted, keys sorted) before serialising it. Now PostgreSQL sends the text
# columns as they are and the times already in the log's ISO form (``to_char``, cheap; a row with a time
# outside years 1000-9999, which only a hand edit can make, is flagged and goes the general way), and Python
# puts the values into a dict in sorted key order, ``fields`` as a cached ``orjson.Fragment`` of its
# canonical JSON, and lets orjson write it: the bytes ``events.canonical_json`` gives (see the comment above).
# Server-side JSON (``to_json`` per column) was tried: it made PostgreSQL the bottleneck at ~10 us a row.

_PG_ISO = "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_PG_IN_RANGE = "({c} >= '1000-01-01 00:00:00+00' AND {c} < '10000-01-01 00:00:00+00')"
_PG_DIGEST_ROWS = (
    "SELECT leaf_index, "  # noqa: S608 (constant column list)
    + ", ".join(
        _PG_ISO.format(c=f'"{k}"') if k in _TIMES else "fields::text" if k == "fields" else f'"{k}"'
        for k in LEAF_KEYS
    )
    + ", "
    + _PG_IN_RANGE.format(c='"occurred_at"')
    + ' AND ("visible_from" IS NULL OR '
    + _PG_IN_RANGE.format(c='"visible_from"')
    + ") FROM audit_events WHERE leaf_index > $1 AND leaf_index < $2 ORDER BY leaf_index LIMIT $3"
)
_FIELDS_AT = LEAF_KEYS.index("fields")
_FIELDS_CACHE: dict[str | None, orjson.Fragment | None] = {}


def _canonical_fields(raw: str | None) -> orjson.Fragment | None:
    """The canonical JSON of a stored ``fields`` value that is a list of strings (or null); else None."""
    canonical: orjson.Fragment | None = None
    try:
        names = None if raw is None else orjson.loads(raw)
    except orjson.JSONDecodeError:
        names = False  # anything odd goes the general way
    if names is None:
        canonical = orjson.Fragment(b"[]")  # from_row reads ``row.fields or ()``
    elif type(names) is list and _STR_ONLY.issuperset(map(type, names)):
        canonical = orjson.Fragment(orjson.dumps(names))
    if len(_FIELDS_CACHE) > 10_000:
        _FIELDS_CACHE.clear()
    _FIELDS_CACHE[raw] = canonical
    return canonical


def _hash_leaf(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


async def leaf_digests(
    session: AsyncSession, after: int, limit: int, below: int = 2**63 - 1
) -> list[tuple[int, bytes]]:
    """``(leaf_index, RFC 9162 leaf hash)`` recomputed from the rows with ``after < leaf_index < below``."""
    if not _is_postgres(session):
        records = await leaf_records(session, after, limit, below)
        return [(record[0], _hash_leaf(leaf_bytes(record))) for record in records]
    driver = await _driver(session)
    rows = await driver.fetch(_PG_DIGEST_ROWS, after, below, limit)
    digests: list[tuple[int, bytes]] = []
    general: list[int] = []
    sha256, dumps, keys, cache = hashlib.sha256, orjson.dumps, LEAF_KEYS, _FIELDS_CACHE
    fields_at = _FIELDS_AT + 1  # after leaf_index
    for row in rows:
        raw = row[fields_at]
        names = cache[raw] if raw in cache else _canonical_fields(raw)
        if names is None or not row[-1]:  # text columns arrive as str or None: nothing else to check
            general.append(len(digests))
            digests.append((row[0], b""))
            continue
        leaf = dict(zip(keys, row[1:-1], strict=True))
        leaf["fields"] = names  # same key, same (sorted) place
        digests.append((row[0], sha256(b"\x00" + dumps(leaf)).digest()))
    if general:
        wanted = [digests[n][0] for n in general]
        records = await driver.fetch(
            _PG_LEAF_ROWS.replace("leaf_index > $1 AND leaf_index < $2", "leaf_index = ANY($1::bigint[])"),
            wanted,
        )
        by_index = {int(r[0]): _hash_leaf(leaf_bytes(_pg_record(*r))) for r in records}
        for n in general:
            index = digests[n][0]
            digests[n] = (index, by_index[index])
    return digests


async def level_blob(session: AsyncSession, level: int, start: int, end: int) -> bytes | None:
    """The stored hashes of one level's ``start <= idx < end`` concatenated, or None unless all are there.

    One value instead of a row per node: a million stored hashes compare in one ``==`` when nothing is wrong,
    and the caller falls back to :func:`level_hashes` to say where something is.
    """
    if end <= start:
        return b""
    if _is_postgres(session):
        row = await (await _driver(session)).fetchrow(
            "SELECT count(*), string_agg(hash, ''::bytea ORDER BY idx) FROM audit_nodes"
            " WHERE level = $1 AND idx >= $2 AND idx < $3",
            level,
            start,
            end,
        )
        count, blob = row[0], row[1]
        if count != end - start or blob is None or len(blob) != 32 * count:
            return None
        return bytes(blob)
    pairs = await level_hashes(session, level, start, end)
    if len(pairs) != end - start or any(len(h) != 32 for _, h in pairs):
        return None
    return b"".join(h for _, h in pairs)


# --------------------------------------------------------------------------- export through COPY
#
# On PostgreSQL the export's lines are written by the server: ``COPY (SELECT <line> ...) TO STDOUT`` streams
# them and Python only passes the bytes on (and hashes them for the manifest). Each line is the exact bytes
# the keyset path writes (``audit.export._encode``): for JSONL the sorted, separator-free JSON of the record
# (``to_json`` escapes strings as the standard library and orjson do), for CSV the cells in ``COLUMNS``
# order, neutralised against spreadsheet formulas, quoted where Python's csv module quotes (delimiter,
# quote, newline; empty cells are NULL so they stay unquoted). A row the server cannot write that way (a
# ``fields`` value that is not a plain list of ASCII-safe strings, a time outside years 1000-9999, a CSV
# cell with a carriage return, which Python writes fully quoted, or with a line break) comes out as
# ``#<leaf_index>`` and the caller writes it the slow way. Text COPY doubles backslashes; JSON lines hold
# no raw control characters, so undoing that is the one ``replace`` in :func:`copy_lines`.

_SIMPLE_FIELDS = (
    'CASE WHEN fields::text ~ \'^\\[("[^"\\\\\\x01-\\x1f]*"(,"[^"\\\\\\x01-\\x1f]*")*)?\\]$\''
    " THEN fields::text"
    ' WHEN fields::text ~ \'^\\[("[^"\\\\\\x01-\\x1f]*"(, "[^"\\\\\\x01-\\x1f]*")*)?\\]$\''
    " THEN replace(fields::text, '\", \"', '\",\"') END"
)
_EXPORT_KEYS = tuple(sorted([*LEAF_KEYS, "leaf_index"]))
_CSV_COLUMNS = (
    *("leaf_index", "event_id", "occurred_at", "kind", "actor_kind", "actor_id", "actor_org"),
    *("subject_commitment", "document_type", "view", "fields", "purpose_code", "purpose_text", "basis"),
    *("outcome", "reason", "request_id", "visible_from"),
)
_TEXT_KEYS = tuple(k for k in LEAF_KEYS if k not in _TIMES and k != "fields")
_ISO = "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_TIMES_OK = (
    "(occurred_at >= '1000-01-01 00:00:00+00' AND occurred_at < '10000-01-01 00:00:00+00'"
    " AND (visible_from IS NULL OR (visible_from >= '1000-01-01 00:00:00+00'"
    " AND visible_from < '10000-01-01 00:00:00+00')))"
)


def _jsonl_line() -> str:
    parts = []
    for n, key in enumerate(_EXPORT_KEYS):
        if key == "leaf_index":
            value = "leaf_index::text"
        elif key in _TIMES:
            value = f"CASE WHEN {key} IS NULL THEN 'null' ELSE '\"' || {_ISO.format(c=key)} || '\"' END"
        elif key == "fields":
            value = "f.simple"
        else:
            value = f"coalesce(to_json(\"{key}\")::text, 'null')"
        parts.append(("'{" if n == 0 else "',") + f'"{key}":' + "' || " + value)
    return " || ".join(parts) + " || '}'"


def _csv_cell(key: str) -> str:
    if key == "leaf_index":
        return "leaf_index::text"
    if key in _TIMES:
        return _ISO.format(c=key)
    value = (
        "CASE WHEN f.simple = '[]' THEN NULL ELSE replace(substr(f.simple, 3, length(f.simple) - 4),"
        " '\",\"', '|') END"
        if key == "fields"
        else f'"{key}"'
    )
    # audit.export.csv_cell: a cell starting like a formula gets a leading quote; '' is written as NULL.
    return (
        f"NULLIF(CASE WHEN left({value}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
        f" THEN '''' || {value} ELSE {value} END, '')"
    )


def _copy_query(fmt: str, wanted: Sequence[Condition]) -> str:
    where = "".join(f' AND "{column}" {op} ${n}' for n, (column, op, _) in enumerate(wanted, start=2))
    # Per row, once: the canonical fields (or NULL) and, for CSV, whether the server may write the row. A
    # cell with a line break goes the slow way too, so every CSV line the server writes is one row. Without
    # the OFFSET 0 fences PostgreSQL inlines the lateral values into every cell that uses them and runs the
    # regular expression 18 times a row (CSV export was 0.12x COPY, 0.3x with them).
    texts = ", ".join(f'"{k}"' for k in _TEXT_KEYS)
    ok = (
        f"x.simple IS NOT NULL AND {_TIMES_OK}"
        " AND strpos(x.texts, chr(13)) = 0 AND strpos(x.texts, chr(10)) = 0"
    )
    source = (
        f"FROM audit_events CROSS JOIN LATERAL (SELECT x.simple, {ok} AS ok FROM (SELECT {_SIMPLE_FIELDS}"  # noqa: S608
        f" AS simple, concat({texts}) AS texts OFFSET 0) AS x OFFSET 0) AS f"  # OFFSET 0: once per row
        f" WHERE leaf_index >= 0 AND leaf_index < $1{where} ORDER BY leaf_index"
    )
    if fmt == "jsonl":
        line = f"CASE WHEN f.simple IS NOT NULL AND {_TIMES_OK} THEN {_jsonl_line()} END"
        return f"SELECT coalesce({line}, '#' || leaf_index::text) {source}"
    markers = ["'#' || leaf_index::text", *(["NULL"] * (len(_CSV_COLUMNS) - 1))]
    cells = ", ".join(
        f"CASE WHEN f.ok THEN {_csv_cell(k)} ELSE {m} END" for k, m in zip(_CSV_COLUMNS, markers, strict=True)
    )
    return f"SELECT {cells} {source}"


def is_postgres(session: AsyncSession) -> bool:
    return _is_postgres(session)


async def copy_lines(
    session: AsyncSession, fmt: str, below: int, filters: EventFilter, block: int = 1 << 16
) -> AsyncIterator[bytes]:
    """Blocks of complete export lines from PostgreSQL's COPY, in leaf order; ``#<leaf>`` lines to redo.

    The server's output is read as it comes, through a small queue, so memory stays bounded whatever the size
    of the export; the caller hashes and sends each block as it passes.
    """
    wanted = conditions(filters)
    for column, op, _ in wanted:
        if column not in _FILTER_COLUMNS or op not in _FILTER_OPS:
            raise ValueError(f"unsupported condition on {column!r} ({op!r})")
    query = _copy_query(fmt, wanted)
    driver = await _driver(session)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
    pending = bytearray()
    jsonl = fmt == "jsonl"

    async def take(chunk: bytes) -> None:
        pending.extend(chunk)
        if len(pending) >= block:
            cut = pending.rfind(b"\n") + 1
            out = bytes(pending[:cut])
            del pending[:cut]
            await queue.put(out.replace(b"\\\\", b"\\") if jsonl else out)

    async def run() -> None:
        try:
            await driver.copy_from_query(
                query,
                below,
                *(value for _, _, value in wanted),
                output=take,
                format="text" if jsonl else "csv",
            )
            if pending:
                await queue.put(bytes(pending).replace(b"\\\\", b"\\") if jsonl else bytes(pending))
        finally:
            await queue.put(None)

    task = asyncio.ensure_future(run())
    try:
        while (item := await queue.get()) is not None:
            yield item
        await task  # raises what the COPY raised
    finally:
        if not task.done():
            task.cancel()
            with suppress(BaseException):
                await task
