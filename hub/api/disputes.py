"""Disputes of an access: a resident files one against an entry of their history; the organisation answers.

A resident disputes an entry by its leaf index (``/v1/me/access-log`` lists each entry's); the dispute goes
to the privacy officers of the organisation that made the access, who answer it (justified, with the basis,
or an error acknowledged) or escalate it to the auditors, who answer what was escalated and see every
dispute. Each step commits with its audit event and the resident's notice in the request's transaction
(``hub.applications.disputes``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.applications.disputes import PRIVACY_OFFICER, Answer, dispute_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, ResidentDep, SessionDep, StateDep
from hub.errors import Problem

router = APIRouter(tags=["disputes"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


async def current_answerer(account: AccountDep) -> AccountPrincipal:
    """A privacy officer (their organisation's disputes) or an auditor (every dispute)."""
    if account.role not in (PRIVACY_OFFICER, "auditor"):
        raise Problem(403, "role-required", role=PRIVACY_OFFICER)
    return account


AnswererDep = Annotated[AccountPrincipal, Depends(current_answerer)]


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leaf_index: int = Field(ge=0, le=2**62)
    reason: str = Field(min_length=1, max_length=2000)


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["justified", "error_acknowledged", "escalated"]
    answer: str = Field(min_length=1, max_length=2000)
    basis: str | None = Field(default=None, max_length=200)


@router.post("/v1/me/disputes", status_code=201)
async def file_dispute(
    body: DisputeIn, request: Request, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    """ "I did not expect this access": dispute one entry of my access history."""
    row = await state.disputes.file(db, resident, body.leaf_index, body.reason, request.state.request_id)
    return dispute_json(row)


@router.get("/v1/me/disputes")
async def my_disputes(resident: ResidentDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """My disputes, newest first, each with its answer and the time of each step."""
    return {"disputes": [dispute_json(r) for r in await state.disputes.of_resident(db, resident)]}


@router.get("/v1/disputes")
async def dispute_queue(
    account: AnswererDep,
    state: StateDep,
    db: SessionDep,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
) -> dict[str, Any]:
    """An officer's organisation's disputes (an auditor: all of them), oldest first."""
    rows = await state.disputes.queue(db, account, status)
    return {"disputes": [dispute_json(r) for r in rows]}


@router.get("/v1/disputes/{dispute_id}")
async def get_dispute(
    dispute_id: UUID, account: AnswererDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    return dispute_json(await state.disputes.get(db, account, dispute_id))


@router.post("/v1/disputes/{dispute_id}/answer")
async def answer_dispute(
    dispute_id: UUID,
    body: AnswerIn,
    request: Request,
    account: AnswererDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Answer (justified with its basis, or an error acknowledged) or escalate to the auditors."""
    answer = Answer(action=body.action, text=body.answer, basis=body.basis)
    row = await state.disputes.answer(db, account, dispute_id, answer, request.state.request_id)
    return dispute_json(row)
