"""All SQL on the consent tables. Every function runs in the caller's session and never commits.

The conditional UPDATEs here are what make consent counting safe under concurrency: a use is counted only if
the consent is still active and the named document still has a use left, decided by the database in the
statement that takes the row lock, so a revoke and a use serialise on the consent row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CTE, ColumnElement, Table, bindparam, exists, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import (
    ConsentEventRow,
    ConsentReceiptRow,
    ConsentRequestNoticeRow,
    ConsentRequestRow,
    ConsentRow,
    ConsentUseRow,
    MandateRow,
)
from consent.records import aware


async def consents(
    session: AsyncSession, *, subject_commitment: str | None, recipient_id: str | None, limit: int = 500
) -> Sequence[ConsentRow]:
    query = select(ConsentRow).order_by(ConsentRow.created_at.desc())
    if subject_commitment is not None:
        query = query.where(ConsentRow.subject_commitment == subject_commitment)
    if recipient_id is not None:
        query = query.where(ConsentRow.recipient_id == recipient_id)
    return (await session.execute(query.limit(limit))).scalars().all()


async def requests_by(
    session: AsyncSession, requester_id: str, since: datetime, limit: int
) -> Sequence[ConsentRequestRow]:
    rows = await session.execute(
        select(ConsentRequestRow)
        .where(
            ConsentRequestRow.requester_id == requester_id,
            ConsentRequestRow.created_at >= since.astimezone(UTC),  # stored in UTC
        )
        .order_by(ConsentRequestRow.created_at.desc())
        .limit(limit)
    )
    return rows.scalars().all()


async def consume_link(
    session: AsyncSession, request_id: str, digest: str, now: datetime, opened_by_hash: str
) -> bool:
    """Spend the single-use link and bind the request to the opening browser, in one conditional UPDATE.

    Two browsers racing with the same link cannot both win: the first UPDATE clears the token hash, the
    second matches no row, so exactly one binding is ever stored.
    """
    result = await session.execute(
        update(ConsentRequestRow)
        .where(
            ConsentRequestRow.request_id == request_id,
            ConsentRequestRow.open_token_hash == digest,
            ConsentRequestRow.status == "pending",
            ConsentRequestRow.expires_at > now,
        )
        .values(open_token_hash=None, opened_by_hash=opened_by_hash)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def bind_account(session: AsyncSession, request_id: str, account_id: str) -> None:
    """Bind a pending request to the first resident account seen on its browser (never overwritten)."""
    await session.execute(
        update(ConsentRequestRow)
        .where(
            ConsentRequestRow.request_id == request_id,
            ConsentRequestRow.bound_account_id.is_(None),
            ConsentRequestRow.status == "pending",
        )
        .values(bound_account_id=account_id)
        .execution_options(synchronize_session=False)
    )


async def note_request_notice(
    session: AsyncSession, request_id: str, subject_commitment: str, now: datetime
) -> bool:
    """Mark a request as announced to one resident; True only for the call that made the mark.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the (request, resident) key: a second call, or a concurrent one
    (which waits for the first's transaction on PostgreSQL), inserts nothing, so the notice is written once.
    """
    values = {"request_id": request_id, "subject_commitment": subject_commitment, "noticed_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(insert(ConsentRequestNoticeRow).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def request_recipient(session: AsyncSession, request_id: str) -> str | None:
    """The organisation asking in a consent request (who a resident's notice of it names)."""
    found = await session.execute(
        select(ConsentRequestRow.recipient_org).where(ConsentRequestRow.request_id == request_id)
    )
    return found.scalar_one_or_none()


async def count_use(
    session: AsyncSession, consent_id: str, document_type: str, view: str, now: datetime, actor: str
) -> str | None:
    """One use of one document by ``actor``, with its ``used`` lifecycle row, or the reason there is none.
    On a refusal the caller rolls back.

    The consent row is updated first (its lock orders this use against a concurrent pause or revoke, and
    the WHERE re-checks status and validity after any wait), then the document's own counter. On
    PostgreSQL all of it is one statement (:data:`GUARDED_USE`).
    """
    if session.get_bind().dialect.name == "postgresql":
        return await _count_use_in_one_statement(session, consent_id, document_type, view, now, actor)
    counted = await session.execute(
        update(ConsentRow)
        .where(
            ConsentRow.consent_id == consent_id,
            ConsentRow.status == "active",
            ConsentRow.starts_at <= now,
            ConsentRow.expires_at > now,
        )
        .values(uses=ConsentRow.uses + 1, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        return await use_refusal(session, consent_id, now)
    limit = select(ConsentRow.max_uses).where(ConsentRow.consent_id == consent_id).scalar_subquery()
    per_document = await session.execute(
        update(ConsentUseRow)
        .where(
            ConsentUseRow.consent_id == consent_id,
            ConsentUseRow.document_type == document_type,
            ConsentUseRow.view == view,
            ConsentUseRow.uses < limit,
        )
        .values(uses=ConsentUseRow.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if per_document.rowcount != 1:  # type: ignore[attr-defined]
        return "consent_exhausted"
    session.add(ConsentEventRow(consent_id=consent_id, kind="used", at=now, actor=actor))
    return None


@dataclass(frozen=True)
class GuardedUse:
    """A consent use as CTEs that a caller's own write can be made conditional on: ``counted`` is true exactly
    when the use was counted, in the same statement. Nothing of the use is written unless it counts.

    For the lookup on PostgreSQL (``hub.uow.Trail.record_use``): the use, its lifecycle row, the audit event
    and the notices as one autocommitted statement, all or nothing, where a transaction took four round trips.
    """

    ctes: tuple[CTE, ...]
    counted: ColumnElement[bool]


def _guarded_use() -> GuardedUse:
    """:func:`count_use` with every write conditional on the per-document count.

    The consent row is locked first (``FOR UPDATE``, which re-checks status and validity after any wait for a
    concurrent pause or revoke), then the document's counter is taken if it has a use left under the
    consent's ``max_uses``; only then are the consent's own counter and the ``used`` row written. So a refused
    use leaves no trace even without a transaction around the statement, and the lock order is
    :func:`count_use`'s.
    """
    consents = cast(Table, ConsentRow.__table__)
    uses = cast(Table, ConsentUseRow.__table__)
    events = cast(Table, ConsentEventRow.__table__)
    consent_id, now = (
        bindparam("use_consent", type_=consents.c.consent_id.type),
        bindparam("use_now", type_=consents.c.last_used_at.type),
    )
    locked = (
        select(consents.c.max_uses)
        .where(
            consents.c.consent_id == consent_id,
            consents.c.status == "active",
            consents.c.starts_at <= now,
            consents.c.expires_at > now,
        )
        .with_for_update()
        .cte("use_locked")
    )
    per_document = (
        update(uses)
        .where(
            uses.c.consent_id == consent_id,
            uses.c.document_type == bindparam("use_document_type", type_=uses.c.document_type.type),
            uses.c.view == bindparam("use_view", type_=uses.c.view.type),
            uses.c.uses < select(locked.c.max_uses).scalar_subquery(),
        )
        .values(uses=uses.c.uses + 1)
        .returning(uses.c.consent_id)
        .cte("use_per_document")
    )
    counted = exists(select(per_document.c.consent_id))
    on_consent = (
        update(consents)
        .where(consents.c.consent_id.in_(select(per_document.c.consent_id)))
        .values(uses=consents.c.uses + 1, last_used_at=now)
        .cte("use_counted")
    )
    recorded = (
        insert(events)
        .from_select(
            ["consent_id", "kind", "at", "actor"],
            select(consent_id, literal("used", type_=events.c.kind.type), now,
                   bindparam("use_actor", type_=events.c.actor.type))
            .where(counted),
        )
        .cte("use_recorded")
    )  # fmt: skip
    return GuardedUse(ctes=(locked, per_document, on_consent, recorded), counted=counted)


GUARDED_USE = _guarded_use()
_COUNT_USE = select(GUARDED_USE.counted).add_cte(*GUARDED_USE.ctes)  # the use alone, in a transaction


def guarded_use_params(
    consent_id: str, document_type: str, view: str, now: datetime, actor: str
) -> dict[str, Any]:
    """The parameters of :data:`GUARDED_USE` (named apart from any column: see :func:`count_use`)."""
    return {
        "use_consent": consent_id,
        "use_now": now,
        "use_document_type": document_type,
        "use_view": view,
        "use_actor": actor,
    }


async def use_refusal(session: AsyncSession, consent_id: str, now: datetime) -> str:
    """Why a guarded use did not count, read after the fact: paused or revoked by status, expired outside its
    validity, and otherwise the document had no use left."""
    row = (
        await session.execute(
            select(ConsentRow.status, ConsentRow.starts_at, ConsentRow.expires_at).where(
                ConsentRow.consent_id == consent_id
            )
        )
    ).one_or_none()
    if row is None:
        return "consent_expired"
    status, starts_at, expires_at = row
    if status in ("paused", "revoked"):
        return f"consent_{status}"
    if status != "active" or not aware(starts_at) <= now < aware(expires_at):
        return "consent_expired"
    return "consent_exhausted"


async def _count_use_in_one_statement(
    session: AsyncSession, consent_id: str, document_type: str, view: str, now: datetime, actor: str
) -> str | None:
    """:func:`count_use` in one round trip (PostgreSQL): :data:`GUARDED_USE` in the caller's transaction."""
    params = guarded_use_params(consent_id, document_type, view, now, actor)
    counted = (await session.execute(_COUNT_USE, params)).scalar()
    return None if counted else await use_refusal(session, consent_id, now)


async def receipts_of(session: AsyncSession, ids: Iterable[str]) -> dict[str, list[ConsentReceiptRow]]:
    """Receipts of many consents in one query (a resident's consent list)."""
    grouped: dict[str, list[ConsentReceiptRow]] = {}
    wanted = list(ids)
    if not wanted:
        return grouped
    rows = await session.execute(
        select(ConsentReceiptRow)
        .where(ConsentReceiptRow.consent_id.in_(wanted))
        .order_by(ConsentReceiptRow.created_at)
    )
    for row in rows.scalars():
        grouped.setdefault(row.consent_id, []).append(row)
    return grouped


async def mandates_of(session: AsyncSession, account_id: str) -> Sequence[MandateRow]:
    rows = await session.execute(
        select(MandateRow)
        .where((MandateRow.principal_account_id == account_id) | (MandateRow.agent_account_id == account_id))
        .order_by(MandateRow.created_at.desc())
    )
    return rows.scalars().all()


async def mandate_agent(session: AsyncSession, mandate_id: str) -> str | None:
    """The agent account of a mandate (who is told that it was granted to them)."""
    found = await session.execute(
        select(MandateRow.agent_account_id).where(MandateRow.mandate_id == mandate_id)
    )
    return found.scalar_one_or_none()


async def recipient_of(session: AsyncSession, consent_id: str) -> tuple[str, str] | None:
    """Who holds a consent: its recipient's id and organisation."""
    found = await session.execute(
        select(ConsentRow.recipient_id, ConsentRow.recipient_org).where(ConsentRow.consent_id == consent_id)
    )
    row = found.first()
    return (row.recipient_id, row.recipient_org) if row is not None else None


def _without(kind: str) -> object:
    """No lifecycle event of ``kind`` recorded for the consent yet (the sweep's marker)."""
    return ~exists().where(ConsentEventRow.consent_id == ConsentRow.consent_id, ConsentEventRow.kind == kind)


async def expiring(
    session: AsyncSession, now: datetime, horizon: timedelta, limit: int
) -> Sequence[ConsentRow]:
    """Consents that lapse within ``horizon`` and were not announced as lapsing yet.

    Only consents granted more than ``horizon`` ago: a resident who gave a short consent (a counter's one
    day) just saw its end date, and a notice that it is about to lapse would be noise.
    """
    rows = await session.execute(
        select(ConsentRow)
        .where(
            ConsentRow.status != "revoked",
            ConsentRow.expires_at > now,
            ConsentRow.expires_at <= now + horizon,
            ConsentRow.starts_at <= now - horizon,
            _without("expiring"),  # type: ignore[arg-type]
            _without("exhausted"),  # type: ignore[arg-type]
        )
        .order_by(ConsentRow.expires_at)
        .limit(limit)
    )
    return rows.scalars().all()


async def expired(session: AsyncSession, now: datetime, since: datetime, limit: int) -> Sequence[ConsentRow]:
    """Consents that lapsed (after ``since``) and were not announced as lapsed, nor as used up before."""
    rows = await session.execute(
        select(ConsentRow)
        .where(
            ConsentRow.status != "revoked",
            ConsentRow.expires_at <= now,
            ConsentRow.expires_at > since,
            _without("expired"),  # type: ignore[arg-type]
            _without("exhausted"),  # type: ignore[arg-type]
        )
        .order_by(ConsentRow.expires_at)
        .limit(limit)
    )
    return rows.scalars().all()


async def exhausted(session: AsyncSession, now: datetime, limit: int) -> Sequence[ConsentRow]:
    """Consents still in force whose every named document has had all its uses, not yet announced so."""
    spare = exists().where(
        ConsentUseRow.consent_id == ConsentRow.consent_id, ConsentUseRow.uses < ConsentRow.max_uses
    )
    rows = await session.execute(
        select(ConsentRow)
        .where(
            ConsentRow.status != "revoked",
            ConsentRow.expires_at > now,
            ConsentRow.uses >= ConsentRow.max_uses,  # cheap necessary condition before the per-document one
            ~spare,
            _without("exhausted"),  # type: ignore[arg-type]
        )
        .order_by(ConsentRow.last_used_at)
        .limit(limit)
    )
    return rows.scalars().all()
