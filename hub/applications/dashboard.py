"""A department's dashboard: where its cases stand, per form, and today's counter form sessions.

Per form the department handles: counts by state (completion split by outcome), open cases due soon (within
the next two Korean business days, the same horizon as the officials' deadline alerts) and overdue, the median
processing time of completed cases (submission to completion), the supplementation rate (the share of cases
that were asked for a supplement at least once), and the satisfaction average of the rated cases. Beside
them, the department's counter form sessions opened today (Korean day) with how long each resident took from
the QR code being shown to the application arriving, or has been taking.

Read-only, in the caller's session; counts are GROUP BY queries, the medians are taken in Python over the
completed cases' two timestamps. The JSON, the page and the CSV read this one ``Dashboard``.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import iso
from document_specs.forms import FormSpec
from hub.applications import lifecycle
from hub.applications.business_days import add_business_days
from hub.applications.models import ApplicationRow, FormSessionRow, OfficialDepartmentRow, StepRow

SEOUL: Final = ZoneInfo("Asia/Seoul")
DUE_SOON_BUSINESS_DAYS: Final = 2
OPEN_STATES: Final = tuple(s for s in lifecycle.STATES if s not in lifecycle.FINAL_STATES)
SUMMED: Final = (
    "total",
    "approved",
    "rejected",
    "open",
    "due_soon",
    "overdue",
    "supplemented_cases",
    "ratings",
)
CSV_COLUMNS: Final = (
    "department",
    "form_type",
    "total",
    *lifecycle.STATES,
    "approved",
    "rejected",
    "open",
    "due_soon",
    "overdue",
    "median_processing_seconds",
    "supplementation_rate",
    "satisfaction_average",
    "ratings",
)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment


@dataclass
class FormFigures:
    """One form's numbers (or the department's, summed over its forms, as ``form_type`` ``"*"``)."""

    form_type: str
    total: int = 0
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(lifecycle.STATES, 0))
    approved: int = 0
    rejected: int = 0
    open: int = 0
    due_soon: int = 0
    overdue: int = 0
    median_processing_seconds: float | None = None
    supplemented_cases: int = 0
    supplementation_rate: float | None = None
    satisfaction_average: float | None = None
    ratings: int = 0


@dataclass(frozen=True)
class CounterSession:
    session_id: str
    form_type: str
    official_account_id: str
    created_at: datetime
    opened_at: datetime | None
    submitted_at: datetime | None
    status: str  # submitted | opened | waiting | expired
    waiting_seconds: float


@dataclass(frozen=True)
class Dashboard:
    department: str
    as_of: datetime
    today: date
    forms: list[FormFigures]
    totals: FormFigures
    sessions: list[CounterSession]

    @property
    def median_waiting_seconds(self) -> float | None:
        done = [s.waiting_seconds for s in self.sessions if s.status == "submitted"]
        return statistics.median(done) if done else None

    def as_json(self) -> dict[str, Any]:
        def figures(f: FormFigures) -> dict[str, Any]:
            return asdict(f)

        return {
            "department": self.department,
            "as_of": iso(self.as_of),
            "today": self.today.isoformat(),
            "due_soon_business_days": DUE_SOON_BUSINESS_DAYS,
            "forms": [figures(f) for f in self.forms],
            "totals": figures(self.totals),
            "counter_sessions": {
                "date": self.today.isoformat(),
                "count": len(self.sessions),
                "median_waiting_seconds": self.median_waiting_seconds,
                "sessions": [
                    {
                        "session_id": s.session_id,
                        "form_type": s.form_type,
                        "official_account_id": s.official_account_id,
                        "created_at": iso(s.created_at),
                        "opened_at": iso(s.opened_at) if s.opened_at else None,
                        "submitted_at": iso(s.submitted_at) if s.submitted_at else None,
                        "status": s.status,
                        "waiting_seconds": s.waiting_seconds,
                    }
                    for s in self.sessions
                ],
            },
        }

    def as_csv(self) -> str:
        """The per-form table (and the department's total row, ``form_type`` ``*``), as the JSON has it."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for f in [*self.forms, self.totals]:
            row: dict[str, Any] = {
                "department": self.department,
                **asdict(f),
                **f.by_state,
            }
            writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        return out.getvalue()


def departments(forms: Mapping[str, FormSpec]) -> dict[str, list[FormSpec]]:
    """Each department the forms name, with its forms (sorted by type)."""
    found: dict[str, list[FormSpec]] = {}
    for form in sorted(forms.values(), key=lambda f: f.type):
        found.setdefault(form.department, []).append(form)
    return found


async def department_of(session: AsyncSession, account_id: str) -> str | None:
    row = await session.get(OfficialDepartmentRow, account_id)
    return row.department if row is not None else None


async def build(
    session: AsyncSession,
    department: str,
    forms: list[FormSpec],
    now: datetime,
) -> Dashboard:
    """The department's figures as of ``now`` (its Korean day decides "today", "due soon" and "overdue")."""
    today = now.astimezone(SEOUL).date()
    soon = add_business_days(today, DUE_SOON_BUSINESS_DAYS)
    by_form = {f.type: FormFigures(f.type) for f in forms}

    def of(form_type: str) -> FormFigures:  # a case of a form since removed from the specs still counts
        return by_form.setdefault(form_type, FormFigures(form_type))

    in_department = ApplicationRow.department == department

    counted = await session.execute(
        select(ApplicationRow.form_type, ApplicationRow.status, ApplicationRow.outcome, func.count())
        .where(in_department)
        .group_by(ApplicationRow.form_type, ApplicationRow.status, ApplicationRow.outcome)
    )
    for form_type, status, outcome, n in counted.all():
        figures = of(form_type)
        figures.total += n
        figures.by_state[status] = figures.by_state.get(status, 0) + n
        if status == lifecycle.COMPLETED and outcome in ("approved", "rejected"):
            setattr(figures, outcome, getattr(figures, outcome) + n)
        if status in OPEN_STATES:
            figures.open += n

    # The deadline runs for open cases except those waiting on the resident's supplement (the pause does not
    # count towards the processing time: hub/applications/service.py moves the due date when it ends).
    running = ApplicationRow.status.in_(OPEN_STATES) & (
        ApplicationRow.status != lifecycle.SUPPLEMENTATION_REQUESTED
    )
    for column, condition in (
        ("overdue", ApplicationRow.due_on < today),
        ("due_soon", (ApplicationRow.due_on >= today) & (ApplicationRow.due_on <= soon)),
    ):
        found = await session.execute(
            select(ApplicationRow.form_type, func.count())
            .where(in_department, running, condition)
            .group_by(ApplicationRow.form_type)
        )
        for form_type, n in found.all():
            setattr(of(form_type), column, n)

    supplemented = await session.execute(
        select(ApplicationRow.form_type, func.count(func.distinct(StepRow.application_id)))
        .join(StepRow, StepRow.application_id == ApplicationRow.application_id)
        .where(in_department, StepRow.to_status == lifecycle.SUPPLEMENTATION_REQUESTED)
        .group_by(ApplicationRow.form_type)
    )
    for form_type, n in supplemented.all():
        of(form_type).supplemented_cases = n

    rated = await session.execute(
        select(ApplicationRow.form_type, func.count(), func.sum(ApplicationRow.rating))
        .where(in_department, ApplicationRow.rating.is_not(None))
        .group_by(ApplicationRow.form_type)
    )
    rating_sums: dict[str, int] = {}
    for form_type, n, total in rated.all():
        of(form_type).ratings = n
        rating_sums[form_type] = int(total or 0)

    durations: dict[str, list[float]] = {}
    completed = await session.execute(
        select(ApplicationRow.form_type, ApplicationRow.submitted_at, ApplicationRow.completed_at).where(
            in_department,
            ApplicationRow.status == lifecycle.COMPLETED,
            ApplicationRow.completed_at.is_not(None),
        )
    )
    for form_type, submitted_at, completed_at in completed.all():
        start, end = _aware(submitted_at), _aware(completed_at)
        assert start is not None and end is not None
        durations.setdefault(form_type, []).append((end - start).total_seconds())

    totals = FormFigures("*")
    for figures in by_form.values():
        spent = durations.get(figures.form_type, [])
        figures.median_processing_seconds = statistics.median(spent) if spent else None
        figures.supplementation_rate = figures.supplemented_cases / figures.total if figures.total else None
        if figures.ratings:
            figures.satisfaction_average = rating_sums[figures.form_type] / figures.ratings
        for name in SUMMED:
            setattr(totals, name, getattr(totals, name) + getattr(figures, name))
        for state, n in figures.by_state.items():
            totals.by_state[state] = totals.by_state.get(state, 0) + n
    every = [d for spent in durations.values() for d in spent]
    totals.median_processing_seconds = statistics.median(every) if every else None
    totals.supplementation_rate = totals.supplemented_cases / totals.total if totals.total else None
    if totals.ratings:
        totals.satisfaction_average = sum(rating_sums.values()) / totals.ratings

    return Dashboard(
        department=department,
        as_of=now,
        today=today,
        forms=sorted(by_form.values(), key=lambda f: f.form_type),
        totals=totals,
        sessions=await _sessions_today(session, [f.type for f in forms], today, now),
    )


async def _sessions_today(
    session: AsyncSession, form_types: list[str], today: date, now: datetime
) -> list[CounterSession]:
    """Counter form sessions for the department's forms opened on ``today`` (Korean day), oldest first.

    Waiting time runs from the QR code being shown (the session's creation) to the application arriving; a
    session still waiting counts up to ``now``, one that expired unanswered up to its expiry.
    """
    start = datetime.combine(today, time.min, tzinfo=SEOUL).astimezone(UTC)
    end = start + timedelta(days=1)
    found = await session.execute(
        select(FormSessionRow, ApplicationRow.submitted_at)
        .outerjoin(ApplicationRow, ApplicationRow.application_id == FormSessionRow.application_id)
        .where(
            FormSessionRow.form_type.in_(form_types),
            FormSessionRow.created_at >= start,
            FormSessionRow.created_at < end,
        )
        .order_by(FormSessionRow.created_at)
    )
    sessions = []
    for row, submitted_at in found.all():
        created = _aware(row.created_at)
        expires = _aware(row.expires_at)
        submitted = _aware(submitted_at)
        assert created is not None and expires is not None
        if submitted is not None:
            status, until = "submitted", submitted
        elif expires <= now:
            status, until = "expired", expires
        else:
            status, until = ("opened" if row.opened_at is not None else "waiting"), now
        sessions.append(
            CounterSession(
                session_id=row.session_id,
                form_type=row.form_type,
                official_account_id=row.official_account_id,
                created_at=created,
                opened_at=_aware(row.opened_at),
                submitted_at=submitted,
                status=status,
                waiting_seconds=max(0.0, (until - created).total_seconds()),
            )
        )
    return sessions
