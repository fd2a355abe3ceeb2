"""Deadline alerts: the assigned official hears of a case two business days before its due date, on the day,
and once it is overdue (issue 13, item 6).

No request causes these moments, so a sweep finds them, like the consent sweep (``hub.notify.sweep``), run by
``gongyu worker`` (and the demo's in-process loop) about once a minute. Each alert is one audit event
(``case_due_soon``, ``case_due_today``, ``case_overdue``) recorded through ``Trail.record``, whose outbox rows
go to the assigned official's account (``outbox.announce_staff``, routed by :func:`_assigned_official`): the
inbox on their pages and API, and e-mail when the account has an address. The resident is not its subject:
the alert is about the official's work, not an access to the resident's records.

*Which stage.* Only the case's current stage is alerted, computed in Korean business days
(``business_days``: weekends and KR public holidays) from the due date read off the case row in the alert's
own transaction, never cached: an extension, or a supplementation pause that moves ``due_on``, is honoured by
the next sweep, and a moved date earns its own alerts. A worker that was down past a stage alerts the stage
the case is in now, not the ones it missed. Completed and withdrawn cases, cases nobody is assigned to yet,
and cases waiting for the applicant's supplement are not alerted: the time given to supplement does not count
towards the processing period (보완 기간은 처리기간에 산입하지 않는다), the case's clock is stopped, and the
due date it gets when the supplement arrives is the one alerted.

*Once each.* The alert is kept in ``case_deadline_alerts`` (case, stage, due date: the primary key) in the
transaction of its audit event, and the query skips what is kept there; two sweeps racing cannot both commit
one either: the second's insert waits for the first and is refused by the key, and the audit event's id is
derived from the same three (UUIDv5), which the audit log holds unique.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, String, and_, case, exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from audit import AuditEvent
from audit.events import utcnow
from hub.applications import lifecycle
from hub.applications.business_days import add_business_days, business_days_between
from hub.applications.models import ApplicationRow, ApplicationsBase
from hub.errors import Problem
from hub.notify import outbox
from hub.uow import Trail, transaction

log = logging.getLogger("gongyu.applications")

SEOUL: Final = ZoneInfo("Asia/Seoul")
DUE_SOON: Final = "due_soon"
DUE_TODAY: Final = "due_today"
OVERDUE: Final = "overdue"
# stage -> the audit (and notice) kind of its alert
KINDS: Final = {DUE_SOON: "case_due_soon", DUE_TODAY: "case_due_today", OVERDUE: "case_overdue"}
SOON_BUSINESS_DAYS: Final = 2
# Cases overdue for longer than this are not looked at any more (the query stays bounded; their overdue
# alert went out long ago, unless the worker was down for a month).
LOOKBACK: Final = timedelta(days=60)
_NAMESPACE: Final = uuid.UUID("0c8f3a55-51d2-4a8e-8d0e-5b1f7b7e2a19")
ACTOR: Final = "deadline-sweep"
# Cases whose deadline is not running: closed, or waiting for the applicant's supplement.
QUIET_STATES: Final = frozenset({*lifecycle.FINAL_STATES, lifecycle.SUPPLEMENTATION_REQUESTED})


class DeadlineAlertRow(ApplicationsBase):
    """One alert sent: a stage of one due date of one case (migration 0019). The key makes it once."""

    __tablename__ = "case_deadline_alerts"

    application_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date, primary_key=True)
    audit_event_id: Mapped[str] = mapped_column(String(36))
    alerted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def korean_day(moment: datetime) -> date:
    return moment.astimezone(SEOUL).date()


def stage_of(due_on: date, today: date) -> str | None:
    """The alert a case due on ``due_on`` calls for ``today``: none while more than two business days
    remain; ``due_soon`` within two (the due date counted, ``today`` not); then on the day; then overdue."""
    if today > due_on:
        return OVERDUE
    if today == due_on:
        return DUE_TODAY
    if business_days_between(today, due_on) <= SOON_BUSINESS_DAYS:
        return DUE_SOON
    return None


def event_id_for(application_id: str, stage: str, due_on: date) -> str:
    """The one event id an alert can ever have: a second record of it collides in the audit log."""
    return str(uuid.uuid5(_NAMESPACE, f"{application_id}:{stage}:{due_on.isoformat()}"))


def _stage_sql(today: date) -> Any:
    """:func:`stage_of` as SQL, for the rows the query already bounded to two business days ahead."""
    return case(
        (ApplicationRow.due_on < today, literal(OVERDUE)),
        (ApplicationRow.due_on == today, literal(DUE_TODAY)),
        else_=literal(DUE_SOON),
    )


async def due_alerts(session: AsyncSession, today: date, limit: int) -> list[tuple[str, str]]:
    """(case id, stage) of the running, assigned cases whose stage was not yet alerted for their due date."""
    stage = _stage_sql(today)
    sent = exists().where(
        DeadlineAlertRow.application_id == ApplicationRow.application_id,
        DeadlineAlertRow.due_on == ApplicationRow.due_on,
        DeadlineAlertRow.stage == stage,
    )
    found = await session.execute(
        select(ApplicationRow.application_id, ApplicationRow.due_on)
        .where(
            ApplicationRow.status.not_in(sorted(QUIET_STATES)),
            ApplicationRow.assignee_account_id.is_not(None),
            and_(
                ApplicationRow.due_on <= add_business_days(today, SOON_BUSINESS_DAYS),
                ApplicationRow.due_on >= today - LOOKBACK,
            ),
            ~sent,
        )
        .order_by(ApplicationRow.due_on, ApplicationRow.application_id)
        .limit(limit)
    )
    due = []
    for application_id, due_on in found.all():
        current = stage_of(due_on, today)  # the SQL bound is in calendar terms; the stage is exact
        if current is not None:
            due.append((str(application_id), current))
    return due


async def alert(
    session: AsyncSession, trail: Trail, application_id: str, expected: str, now: datetime
) -> bool:
    """Record one alert in the caller's transaction; False if it is no longer due (read again here)."""
    row = await session.get(ApplicationRow, application_id, populate_existing=True)
    if row is None or row.status in QUIET_STATES or row.assignee_account_id is None:
        return False
    due_on = row.due_on
    stage = stage_of(due_on, korean_day(now))
    if stage != expected:  # the due date moved, or the day turned, since the query
        return False
    event_id = event_id_for(row.application_id, stage, due_on)
    session.add(
        DeadlineAlertRow(
            application_id=row.application_id,
            stage=stage,
            due_on=due_on,
            audit_event_id=event_id,
            alerted_at=now,
        )
    )
    await session.flush()  # IntegrityError here: another sweep alerted it (it waited for that one's commit)
    await trail.record(
        session,
        AuditEvent(
            kind=KINDS[stage],
            actor_kind="system",
            actor_id=ACTOR,
            outcome="ok",
            purpose_code=f"application:{row.form_type}",
            basis=f"department:{row.department}",
            reason=f"application:{row.application_id}",
            occurred_at=now,
            event_id=event_id,
        ),
    )
    return True


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    trail: Trail,
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = 500,
) -> int:
    """Alert every due stage, each in a transaction of its own; how many alerts were recorded.

    Safe to run as often and in as many workers as wanted: what was alerted is never due again.
    """
    moment = now()
    async with sessions() as session:
        due = await due_alerts(session, korean_day(moment), limit)
    recorded = 0
    for application_id, stage in due:
        try:
            async with transaction(sessions) as session:
                if not await alert(session, trail, application_id, stage, moment):
                    continue
        except (IntegrityError, Problem):
            # Alerted meanwhile by another sweep, or the database failed: rolled back whole, and found due
            # again next time if it is still unrecorded.
            log.info("applications: %s alert of %s not recorded now", stage, application_id)
            continue
        recorded += 1
    return recorded


def alongside(
    sweeper: Callable[[], Awaitable[int]] | None,
    sessions: async_sessionmaker[AsyncSession],
    trail: Trail,
) -> Callable[[], Awaitable[int]]:
    """The worker's periodic sweep with the deadline alerts added (a failing one does not skip the other)."""

    async def both() -> int:
        total = 0
        if sweeper is not None:
            try:
                total += await sweeper()
            except Exception:
                log.exception("notify: consent sweep failed")
        return total + await sweep(sessions, trail)

    return both


# -- who hears of an alert -----------------------------------------------------------------------------------


async def _assigned_official(
    session: AsyncSession, event: AuditEvent
) -> tuple[Sequence[str], dict[str, Any]]:
    """The case's assigned official (read in the alert's transaction), with the case number and due date."""
    application_id = (event.reason or "").removeprefix("application:")
    found = (
        await session.execute(
            select(
                ApplicationRow.assignee_account_id, ApplicationRow.case_number, ApplicationRow.due_on
            ).where(ApplicationRow.application_id == application_id)
        )
    ).one_or_none()
    if found is None or found.assignee_account_id is None:
        return [], {}
    extra = {
        "application_id": application_id,
        "case_number": found.case_number,
        "due_on": found.due_on.isoformat(),
    }
    return [found.assignee_account_id], extra


for _kind in KINDS.values():
    outbox.route_to_staff(_kind, _assigned_official)
