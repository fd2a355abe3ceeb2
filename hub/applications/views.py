"""How a form, an application and a case are shown: one shape for the API and the pages alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from document_specs.forms import FormSpec
from document_specs.loader import SpecCatalog
from hub.applications import lifecycle
from hub.applications.answers import shown
from hub.applications.models import ApplicationRow, StepRow
from hub.applications.prefill import plan
from hub.auth.accounts import NumberSealer


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def form_summary(form: FormSpec) -> dict[str, Any]:
    return {
        "form_type": form.type,
        "titles": form.titles,
        "descriptions": form.descriptions,
        "department": form.department,
        "department_titles": form.department_titles,
        "deadline_business_days": form.deadline_business_days,
        "proxy_allowed": form.proxy_allowed,
    }


def form_detail(form: FormSpec, catalog: SpecCatalog) -> dict[str, Any]:
    return {
        **form_summary(form),
        "statute": form.statute,
        "retention_days": form.retention_days,
        "fields": [f.model_dump(exclude_none=True) for f in form.fields],
        "attachments": [a.model_dump() for a in form.attachments],
        "prefill": plan(form, catalog),
    }


def step_json(step: StepRow) -> dict[str, Any]:
    return {
        "from": step.from_status,
        "to": step.to_status,
        "at": iso(step.at),
        "actor_kind": step.actor_kind,
        "note": step.note,
        "due_on": step.due_on.isoformat() if step.due_on else None,
        "audit_event_id": step.audit_event_id,
    }


def application_json(
    row: ApplicationRow, form: FormSpec, sealer: NumberSealer, steps: list[StepRow] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_id": row.application_id,
        "case_number": row.case_number,
        "form_type": row.form_type,
        "department": row.department,
        "status": row.status,
        "outcome": row.outcome,
        "submitted_at": iso(row.submitted_at),
        "due_on": row.due_on.isoformat(),
        "completed_at": iso(row.completed_at),
        "assignee_id": row.assignee_account_id,
        "answers": shown(form, row.answers, sealer),
        "prefilled": dict(row.prefilled or {}),
        "rating": (
            {"rating": row.rating, "comment": row.rating_comment, "rated_at": iso(row.rated_at)}
            if row.rating is not None
            else None
        ),
        "survey_open": row.status == lifecycle.COMPLETED and row.rating is None,
        # The deadline stands still while the applicant supplements; the days paused moved ``due_on`` later.
        "deadline_paused_since": row.paused_on.isoformat() if row.paused_on else None,
        "paused_business_days": row.paused_business_days or 0,
        "proxy": (
            {"mandate_id": row.mandate_id, "principal_name": row.principal_name} if row.mandate_id else None
        ),
    }
    if steps is not None:
        body["history"] = [step_json(s) for s in steps]
    return body
