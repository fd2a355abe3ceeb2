"""Seeded cases and counter form sessions for the dashboard tests, in a department of their own.

Each test gets a fresh department name and form types (copies of real specs under new names), so cases other
tests file in the shared database never enter its counts.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from document_specs.forms import FormSpec
from hub.applications.business_days import add_business_days
from hub.applications.models import ApplicationRow, FormSessionRow, StepRow
from hub.state import HubState
from hub.uow import transaction

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Seeded:
    department: str
    form_a: FormSpec
    form_b: FormSpec


def department_forms(state: HubState) -> Seeded:
    """Two forms of a new department, registered in the state's forms (what the dashboard routes read)."""
    tag = secrets.token_hex(3)
    department = f"dash_{tag}"
    base = state.forms["basic_pension"]
    form_a = base.model_copy(update={"type": f"dash_{tag}_a", "department": department})
    form_b = base.model_copy(update={"type": f"dash_{tag}_b", "department": department})
    state.forms[form_a.type] = form_a
    state.forms[form_b.type] = form_b
    return Seeded(department, form_a, form_b)


def _case(
    form: FormSpec,
    status: str,
    submitted: datetime,
    due: date,
    *,
    outcome: str | None = None,
    completed: datetime | None = None,
    rating: int | None = None,
    application_id: str | None = None,
) -> ApplicationRow:
    return ApplicationRow(
        application_id=application_id or str(uuid.uuid4()),
        case_number=f"T{secrets.token_hex(8)}",
        form_type=form.type,
        department=form.department,
        status=status,
        outcome=outcome,
        applicant_account_id=str(uuid.uuid4()),
        subject_commitment="c" * 64,
        answers={},
        prefilled={},
        counter_session_id=None,
        assignee_account_id=None,
        submitted_at=submitted,
        due_on=due,
        updated_at=completed or submitted,
        completed_at=completed,
        rating=rating,
        rating_comment=None,
        rated_at=completed if rating is not None else None,
    )


def _supplementation(row: ApplicationRow, at: datetime) -> StepRow:
    return StepRow(
        application_id=row.application_id,
        from_status="in_review",
        to_status="supplementation_requested",
        actor_kind="official",
        actor_id="dashboard-test",
        note="need a document",
        due_on=row.due_on,
        audit_event_id=str(uuid.uuid4()),
        at=at,
    )


async def seed(state: HubState, seeded: Seeded, now: datetime, today: date) -> dict[str, Any]:
    """Eight cases over two forms and four counter sessions; returns what the figures must be."""
    a, b = seeded.form_a, seeded.form_b
    session_case = str(uuid.uuid4())
    cases = [
        _case(a, "received", now - timedelta(minutes=10), today + 20 * DAY, application_id=session_case),
        _case(a, "in_review", now - 3 * DAY, today - DAY),  # overdue
        # past its due date, but paused: the resident is supplementing, the office's clock does not run
        _case(a, "supplementation_requested", now - 9 * DAY, today - DAY),
        _case(
            a, "completed", now - 10 * DAY, today - DAY, outcome="approved", completed=now - 6 * DAY, rating=5
        ),
        _case(a, "completed", now - 10 * DAY, today, outcome="rejected", completed=now - 8 * DAY, rating=2),
        _case(a, "completed", now - 5 * DAY, today - 3 * DAY, outcome="approved", completed=now - 4 * DAY),
        _case(b, "withdrawn", now - 4 * DAY, today - DAY),  # final: not overdue
        _case(b, "assigned", now - 2 * DAY, add_business_days(today, 1)),  # due soon
    ]
    steps = [_supplementation(cases[2], now - 8 * DAY), _supplementation(cases[3], now - 9 * DAY)]
    minute = timedelta(minutes=1)

    def form_session(created: datetime, expires: datetime, **extra: Any) -> FormSessionRow:
        return FormSessionRow(
            session_id=str(uuid.uuid4()),
            official_account_id=str(uuid.uuid4()),
            form_type=a.type,
            token_hash="0" * 64,
            created_at=created,
            expires_at=expires,
            **extra,
        )

    sessions = [
        form_session(
            now - 30 * minute, now + 30 * minute, opened_at=now - 25 * minute, application_id=session_case
        ),
        form_session(now - 5 * minute, now + 25 * minute),  # still waiting
        form_session(now - 20 * minute, now - minute),  # expired unanswered
        form_session(now - DAY - 60 * minute, now - DAY),  # yesterday: not today's
    ]
    async with transaction(state.sessions) as session:
        session.add_all([*cases, *steps, *sessions])
    return {"sessions": [s.session_id for s in sessions[:3]]}  # submitted, waiting, expired
