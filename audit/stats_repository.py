"""All SQL of the open statistics: counting one day of the log into ``lookup_stats``, and reading it back.

Kept beside ``audit.repository`` (which holds the log's own SQL) in the same style: plain functions on the
caller's session, no commit. Counting a day reads ``audit_events`` through ``ix_audit_events_occurred_at``
(one day's range, not the whole log) and writes that day's cells with one ``INSERT ... SELECT ... GROUP BY``
in the server; nothing per event crosses into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from audit.models import AuditEventRow
from audit.stats_models import LookupStatDayRow, LookupStatRow


def _table(model: type[LookupStatRow] | type[LookupStatDayRow]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Core tables for the writes: an ORM-enabled bulk DELETE or INSERT costs more in Python than in SQL.
_CELLS = _table(LookupStatRow)
_DAYS = _table(LookupStatDayRow)

# The advisory lock two refreshes take on PostgreSQL, so they never count the same day at once.
ADVISORY_LOCK_KEY = 0x6759_5354_4154  # "gYSTAT"
# Named kinds of basis (``<kind>:<id>``, or ``self``); anything else is published as ``other``.
BASIS_KINDS = ("consent", "statute", "mandate", "self")
DIMENSIONS = ("organisation", "document_type", "basis_kind", "outcome")


def basis_kind_expression() -> ColumnElement[str]:
    """``consent:…`` → ``consent`` and so on; ``self`` as is; NULL → ``none``; anything else → ``other``.

    Only the kind is published, never the consent id or the statute code: a code cited by one office could
    single out an investigation.
    """
    basis = AuditEventRow.basis
    whens: list[tuple[ColumnElement[bool], str]] = [(basis.is_(None), "none"), (basis == "self", "self")]
    whens += [(basis.like(f"{kind}:%"), kind) for kind in BASIS_KINDS if kind != "self"]
    return case(*whens, else_=literal("other", String()))


def document_expression(known: Sequence[str] | None) -> ColumnElement[str]:
    """The event's document type; ``''`` for none, and ``other`` for a type the catalog does not know.

    A refused request records the document type the client typed, which is any text up to 64 characters; the
    public page names only the catalog's types.
    """
    column = AuditEventRow.document_type
    if known is None:
        return func.coalesce(column, "")
    return case(
        (column.is_(None), ""),
        (column.in_(list(known)), column),
        else_=literal("other", String()),
    )


async def lock(session: AsyncSession) -> None:
    """Serialise refreshes: a transaction advisory lock on PostgreSQL; on SQLite, the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    else:
        await session.execute(text("UPDATE lookup_stat_days SET cells = cells WHERE cells < 0"))


async def counted_days(session: AsyncSession, first: date, last: date) -> set[date]:
    rows = await session.execute(
        select(LookupStatDayRow.day).where(LookupStatDayRow.day >= first, LookupStatDayRow.day <= last)
    )
    return {_date(day) for day in rows.scalars()}


async def first_event_time(session: AsyncSession) -> datetime | None:
    """The oldest event's time (the index's first entry): where a first refresh starts counting."""
    found = (await session.execute(select(func.min(AuditEventRow.occurred_at)))).scalar_one_or_none()
    return found if isinstance(found, datetime) else None


async def uncovered_before(session: AsyncSession, end: datetime, tree_size: int) -> int:
    """How many events dated before ``end`` the checkpoint of ``tree_size`` does not cover (0 when none).

    Reads the few newest rows (``leaf_index >= tree_size``, a unique index) and the unintegrated ones.
    """
    query = select(func.count()).where(
        AuditEventRow.occurred_at < end,
        or_(AuditEventRow.leaf_index.is_(None), AuditEventRow.leaf_index >= tree_size),
    )
    return int((await session.execute(query)).scalar_one())


async def count_day(
    session: AsyncSession,
    day: date,
    start: datetime,
    end: datetime,
    kinds: Sequence[str],
    known_documents: Sequence[str] | None,
    tree_size: int,
    computed_at: datetime,
) -> tuple[int, int]:
    """Replace ``day``'s cells with a fresh count of its events in ``[start, end)``; (lookups, cells).

    Idempotent: the day's old rows are deleted first, in the caller's transaction.
    """
    await session.execute(delete(_CELLS).where(_CELLS.c.day == day))
    await session.execute(delete(_DAYS).where(_DAYS.c.day == day))
    # The keys are computed in a subquery and grouped by name: PostgreSQL does not accept a GROUP BY
    # expression whose bound parameters are not the SELECT's own.
    keyed = (
        select(
            func.coalesce(AuditEventRow.actor_org, "").label("organisation"),
            document_expression(known_documents).label("document_type"),
            basis_kind_expression().label("basis_kind"),
            AuditEventRow.outcome.label("outcome"),
        )
        .where(
            AuditEventRow.occurred_at >= start,
            AuditEventRow.occurred_at < end,
            AuditEventRow.kind.in_(list(kinds)),
        )
        .subquery()
    )
    keys = (keyed.c.organisation, keyed.c.document_type, keyed.c.basis_kind, keyed.c.outcome)
    counted = select(literal(day, Date()).label("day"), *keys, func.count().label("lookups")).group_by(*keys)
    await session.execute(
        insert(_CELLS).from_select(
            ["day", "organisation", "document_type", "basis_kind", "outcome", "lookups"], counted
        )
    )
    total, cells = (
        await session.execute(
            select(func.coalesce(func.sum(_CELLS.c.lookups), 0), func.count()).where(_CELLS.c.day == day)
        )
    ).one()
    await session.execute(
        insert(_DAYS).values(
            day=day, lookups=int(total), cells=int(cells), tree_size=tree_size, computed_at=computed_at
        )
    )
    return int(total), int(cells)


async def day_cells(session: AsyncSession, day: date) -> Sequence[LookupStatRow]:
    """One day's cells in the published order (organisation, document type, basis kind, outcome)."""
    query = (
        select(LookupStatRow)
        .where(LookupStatRow.day == day)
        .order_by(
            LookupStatRow.organisation,
            LookupStatRow.document_type,
            LookupStatRow.basis_kind,
            LookupStatRow.outcome,
        )
    )
    return (await session.execute(query)).scalars().all()


async def days(session: AsyncSession, first: date, last: date) -> Sequence[LookupStatDayRow]:
    query = (
        select(LookupStatDayRow)
        .where(LookupStatDayRow.day >= first, LookupStatDayRow.day <= last)
        .order_by(LookupStatDayRow.day)
    )
    return (await session.execute(query)).scalars().all()


async def newest_counted(session: AsyncSession, through: date) -> date | None:
    found = (
        await session.execute(select(func.max(LookupStatDayRow.day)).where(LookupStatDayRow.day <= through))
    ).scalar_one_or_none()
    return None if found is None else _date(found)


async def oldest_counted(session: AsyncSession) -> date | None:
    found = (await session.execute(select(func.min(LookupStatDayRow.day)))).scalar_one_or_none()
    return None if found is None else _date(found)


async def shown_sums(
    session: AsyncSession, dimension: str, first: date, last: date, threshold: int
) -> list[tuple[str, int, int]]:
    """Per value of one dimension (or ``day``): the sum of the cells at or above ``threshold``, and how many
    cells fell below it, over ``[first, last]``. Cells below the threshold add nothing to the sum."""
    if dimension != "day" and dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    column = getattr(LookupStatRow, dimension)
    shown = LookupStatRow.lookups >= threshold
    query = (
        select(
            column,
            func.coalesce(func.sum(case((shown, LookupStatRow.lookups), else_=0)), 0),
            func.coalesce(func.sum(case((shown, 0), else_=literal(1, Integer()))), 0),
        )
        .where(and_(LookupStatRow.day >= first, LookupStatRow.day <= last))
        .group_by(column)
        .order_by(column)
    )
    rows = await session.execute(query)
    return [(str(_date(v)) if dimension == "day" else str(v), int(s), int(n)) for v, s, n in rows]


def _date(value: object) -> date:
    """SQLite may hand a DATE back as text in a textual context; PostgreSQL as ``date``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
