"""Officials' case queue: a department's applications, and the moves along the lifecycle.

Only an official placed in the handling department sees or moves a case (``hub.applications.lifecycle``
says which move belongs to which role); every move is audited and notified to the applicant in the request's
transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.applications.service import Move
from hub.applications.views import application_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, SessionDep, StateDep
from hub.errors import Problem

router = APIRouter(tags=["cases"])


async def current_official(account: AccountDep) -> AccountPrincipal:
    if account.role != "official":
        raise Problem(403, "role-required", role="official")
    return account


OfficialDep = Annotated[AccountPrincipal, Depends(current_official)]
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Literal[
        "assigned",
        "in_review",
        "supplementation_requested",
        "supplemented",
        "extended",
        "completed",
        "withdrawn",
    ]
    note: str | None = Field(default=None, max_length=2000)
    outcome: Literal["approved", "rejected"] | None = None
    due_on: date | None = None  # the new deadline of an extension
    assignee_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")


@router.get("/v1/cases")
async def case_queue(
    account: OfficialDep,
    state: StateDep,
    db: SessionDep,
    status: Annotated[str | None, Query(alias="state", pattern=r"^[a-z_]{1,32}$")] = None,
    form: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = None,
    due_by: date | None = None,
) -> dict[str, Any]:
    """My department's cases, earliest due first; filter by state, form and due date."""
    department, rows = await state.applications.queue(
        db, account, status=status, form_type=form, due_by=due_by
    )
    return {
        "department": department,
        "cases": [application_json(r, state.applications.form(r.form_type), state.sealer) for r in rows],
    }


@router.get("/v1/cases/{application_id}")
async def get_case(
    application_id: UUID, account: OfficialDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    row, steps = await state.applications.case(db, account, application_id)
    return application_json(row, state.applications.form(row.form_type), state.sealer, steps)


@router.post("/v1/cases/{application_id}/transitions")
async def move_case(
    application_id: UUID,
    body: TransitionIn,
    request: Request,
    account: OfficialDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Move a case along one arrow: assign, review, ask for supplements, extend, complete."""
    move = Move(
        to=body.to, note=body.note, outcome=body.outcome, due_on=body.due_on, assignee_id=body.assignee_id
    )
    row = await state.applications.transition(db, account, application_id, move, request.state.request_id)
    row, steps = await state.applications.case(db, account, row.application_id)
    return application_json(row, state.applications.form(row.form_type), state.sealer, steps)
