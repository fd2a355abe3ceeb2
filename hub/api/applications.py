"""Residents' civil applications: the forms, filing one (pre-filled under consent), following it, rating it.

The use cases live in ``hub.applications`` (shared with the pages); these routes only translate HTTP. Every
change is audited in the request's transaction (``SessionDep``). Pre-filling reads the resident's own records
through the audited lookup, which commits each read before the application is written.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub.applications import idempotency
from hub.applications.answers import AnswersInvalid, clean
from hub.applications.service import Move, invalid
from hub.applications.views import application_json, form_detail, form_summary
from hub.auth.tokens import AccountPrincipal
from hub.deps import ResidentDep, SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState

router = APIRouter(tags=["applications"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
FormType = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form_type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    answers: dict[str, Any] = Field(default_factory=dict, max_length=200)
    # true: every document the form pre-fills from; a list: only these document types; false: none.
    consent_to_prefill: bool | list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] = False
    # A proxy application: the mandate (``/v1/me/mandates``) the applicant files under, for its principal.
    mandate_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")


class ResidentMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Literal["supplemented", "withdrawn"]
    note: str | None = Field(default=None, max_length=2000)
    answers: dict[str, Any] | None = Field(default=None, max_length=200)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


@router.get("/v1/forms")
async def list_forms(state: StateDep) -> dict[str, Any]:
    """The application forms a resident can file (public: a form is no one's data)."""
    return {"forms": [form_summary(f) for f in state.forms.values()]}


@router.get("/v1/forms/{form_type}")
async def get_form(form_type: FormType, state: StateDep) -> dict[str, Any]:
    """One form: fields, validation, attachments, and which records would pre-fill which fields."""
    return form_detail(state.applications.form(form_type), state.catalog)


@router.post("/v1/me/applications", status_code=201)
async def file_application(
    body: ApplicationIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """File an application; with ``consent_to_prefill`` the consented records fill their fields first.

    Answers the resident gave win over pre-filled values. Answers are checked before anything is read, so a
    malformed answer never causes a lookup. With ``mandate_id`` an agent files for the mandate's principal
    (the form must allow proxies; pre-fill reads only the signed-in resident's own records, so it is refused
    on a proxy application). With an ``Idempotency-Key`` header a retry gets the first response again and
    makes no second case (``hub.applications.idempotency``).
    """
    form = state.applications.form(body.form_type)
    try:
        clean(form, body.answers, state.sealer, complete=False)
    except AnswersInvalid as exc:
        raise invalid(exc) from None
    if body.mandate_id is not None and body.consent_to_prefill not in (False, []):
        raise Problem(422, "validation-error", errors="consent_to_prefill (not on a proxy application)")
    if idempotency_key is None:
        return await _file(body, request, resident, state, db)
    key = idempotency.parse_key(idempotency_key)
    held = await idempotency.claim(
        state.sessions,
        resident.account_id,
        key,
        idempotency.fingerprint(body.model_dump(mode="json"), state.keys.pepper),
    )
    if isinstance(held, idempotency.Replay):
        return JSONResponse(held.body, status_code=held.status_code, headers={"Idempotent-Replayed": "true"})
    try:
        response = await _file(body, request, resident, state, db, held.submission_key)
        await idempotency.finish(db, held, response.status_code, _body_of(response))
    except BaseException:
        await db.rollback()
        await idempotency.release(state.sessions, held)
        raise
    return response


def _body_of(response: JSONResponse) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


async def _file(
    body: ApplicationIn,
    request: Request,
    resident: AccountPrincipal,
    state: HubState,
    db: AsyncSession,
    submission_key: str | None = None,
) -> JSONResponse:
    form = state.applications.form(body.form_type)
    filled = await state.prefill.prefill(
        db, resident, form, body.consent_to_prefill, request.state.request_id
    )
    given = {k: v for k, v in body.answers.items() if v not in (None, "")}
    row = await state.applications.submit(
        db,
        resident,
        form.type,
        {**filled.values, **given},
        request.state.request_id,
        sources={k: v for k, v in filled.sources.items() if k not in given},
        submission_key=submission_key,
        mandate_id=body.mandate_id,
    )
    answer: dict[str, Any] = {
        "application_id": row.application_id,
        "case_number": row.case_number,
        "status": row.status,
        "due_on": row.due_on.isoformat(),
        "prefilled": sorted(row.prefilled),
        "prefill_failed": list(filled.failed),
    }
    if row.mandate_id:
        answer["proxy"] = {"mandate_id": row.mandate_id, "principal_name": row.principal_name}
    return JSONResponse(answer, status_code=201)


@router.get("/v1/me/applications")
async def my_applications(resident: ResidentDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    rows = await state.applications.mine(db, resident)
    return {
        "applications": [
            application_json(r, state.applications.form(r.form_type), state.sealer) for r in rows
        ]
    }


@router.get("/v1/me/applications/{application_id}")
async def my_application(
    application_id: UUID, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    """One of my applications with its status history."""
    row, steps = await state.applications.case(db, resident, application_id)
    return application_json(row, state.applications.form(row.form_type), state.sealer, steps)


@router.post("/v1/me/applications/{application_id}/transitions")
async def move_my_application(
    application_id: UUID,
    body: ResidentMoveIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Supplement what the department asked for, or withdraw the application."""
    move = Move(to=body.to, note=body.note, answers=body.answers)
    row = await state.applications.transition(db, resident, application_id, move, request.state.request_id)
    row, steps = await state.applications.case(db, resident, row.application_id)
    return application_json(row, state.applications.form(row.form_type), state.sealer, steps)


@router.post("/v1/me/applications/{application_id}/rating")
async def rate_my_application(
    application_id: UUID,
    body: RatingIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """How satisfied I am with a completed application (once)."""
    row = await state.applications.rate(
        db, resident, application_id, body.rating, body.comment, request.state.request_id
    )
    return application_json(row, state.applications.form(row.form_type), state.sealer)
