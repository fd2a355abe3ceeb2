"""The resident's notices (``/v1/me/notifications``) and the public check of a notice's code.

A notice is written in the transaction of the event it announces and shown here once the worker delivered it
(``hub.notify``). ``POST /v1/notices/verify`` lets anyone who received a message claiming to be from the hub
ask whether it was: the answer says when, through which channel and of what kind, never for whom or what it
said, so a code read out by a stranger discloses nothing personal.

``/v1/me/notification-preferences`` is the resident's choice of e-mail per group of notices, quiet hours and
a daily digest (``hub.notify.preferences``); the inbox is always on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import iso
from hub import i18n
from hub.deps import ResidentDep, SessionDep, StateDep
from hub.errors import Problem
from hub.notify import inbox, preferences
from hub.ratelimit import limit_notice_verify
from hub.state import HubState

router = APIRouter(tags=["notifications"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


class VerifyIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, examples=["7K3D-QX9M-A2PR"])


def _titles(state: HubState, lang: str) -> Any:
    def title(document_type: str | None) -> str:
        spec = state.catalog.get(document_type or "")
        return spec.titles.get(lang, document_type or "") if spec is not None else (document_type or "")

    return title


async def notice_page(
    request: Request,
    state: HubState,
    db: AsyncSession,
    recipient: inbox.Recipient,
    *,
    cursor: str | None,
    limit: int,
    unread_only: bool,
) -> dict[str, Any]:
    """One page of a recipient's notices (a resident's or a staff account's), rendered in the caller's
    language, with the unread count: the answer of both inbox endpoints."""
    try:
        found = await inbox.page(db, recipient, cursor=cursor, limit=limit, unread_only=unread_only)
    except ValueError:
        raise Problem(400, "invalid-cursor") from None
    lang = i18n.negotiate(request.headers.get("accept-language"))
    titles = _titles(state, lang)
    return {
        "unread": found.unread,
        "items": [inbox.as_json(row, lang, state.keys.data_key, titles) for row in found.items],
        "next_cursor": found.next_cursor,
    }


@router.get("/v1/me/notifications")
async def my_notifications(
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    unread_only: bool = False,
) -> dict[str, Any]:
    """My notices, newest first, in my language (``Accept-Language``), with the unread count."""
    assert resident.subject_commitment is not None  # ResidentDep guarantees it
    return await notice_page(
        request, state, db, resident.subject_commitment, cursor=cursor, limit=limit, unread_only=unread_only
    )


@router.post("/v1/me/notifications/{message_id}/read")
async def mark_read(message_id: UUID, resident: ResidentDep, db: SessionDep) -> dict[str, Any]:
    """Mark one of my notices read; marking it again changes nothing."""
    assert resident.subject_commitment is not None
    read_at = await inbox.mark_read(db, resident.subject_commitment, message_id)
    if read_at is None:
        raise Problem(404, "not-found")
    return {
        "id": message_id,
        "read_at": iso(read_at),
        "unread": await inbox.unread_count(db, resident.subject_commitment),
    }


@router.post("/v1/notices/verify", dependencies=[Depends(limit_notice_verify)])
async def verify_notice(body: VerifyIn, db: SessionDep) -> dict[str, Any]:
    """Whether the hub sent a message with this code; ``{"genuine": false}`` for any code it did not send."""
    return await inbox.verify(db, body.code)


@router.get("/v1/me/notification-preferences")
async def my_preferences(resident: ResidentDep, db: SessionDep) -> dict[str, Any]:
    """My choices: e-mail per group of notices, quiet hours and the digest hour (Korean time)."""
    return (await preferences.load(db, resident.account_id)).as_json()


@router.put("/v1/me/notification-preferences")
async def set_my_preferences(
    body: preferences.PreferencesIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Replace my choices (what is left out takes its default); the change is recorded and announced."""
    assert resident.subject_commitment is not None
    saved = await preferences.save(
        db,
        state.trail,
        resident.account_id,
        resident.subject_commitment,
        body.as_preferences(),
        request.state.request_id,
    )
    return saved.as_json()
