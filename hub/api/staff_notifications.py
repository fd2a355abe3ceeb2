"""Staff notices (``/v1/staff/notifications``): what the hub tells officials, privacy officers and auditors.

The residents' inbox (``/v1/me/notifications``) is keyed by their subject commitment; staff have none, so
their notices are addressed by account id (``hub.notify.outbox.announce_staff``): a case's deadline coming
or passed for its assigned official, a new dispute for the privacy officers of the organisation concerned,
an escalated one for the auditors. The same reader (``hub.notify.inbox``) pages and renders both, and a
staff inbox matches only rows without a subject commitment, so neither side can read the other's notices.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from audit.events import iso
from hub.api.notifications import notice_page
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, SessionDep, StateDep
from hub.errors import Problem
from hub.notify import inbox
from hub.notify.outbox import STAFF_ROLES

router = APIRouter(tags=["notifications"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


async def current_staff(account: AccountDep) -> AccountPrincipal:
    """An official, a privacy officer or an auditor (a resident or a client is refused with 403)."""
    if account.role not in STAFF_ROLES:
        raise Problem(403, "role-required", role="official")
    return account


StaffDep = Annotated[AccountPrincipal, Depends(current_staff)]


@router.get("/v1/staff/notifications")
async def staff_notifications(
    request: Request,
    staff: StaffDep,
    state: StateDep,
    db: SessionDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    unread_only: bool = False,
) -> dict[str, Any]:
    """My notices as staff, newest first, in my language (``Accept-Language``), with the unread count.

    Each names what it is about (``application_id`` and ``case_number`` of a case, ``dispute_id``).
    """
    return await notice_page(
        request, state, db, inbox.Staff(staff.account_id), cursor=cursor, limit=limit, unread_only=unread_only
    )


@router.post("/v1/staff/notifications/{message_id}/read")
async def mark_staff_notification_read(message_id: UUID, staff: StaffDep, db: SessionDep) -> dict[str, Any]:
    """Mark one of my notices read; marking it again changes nothing; someone else's is 404."""
    mine = inbox.Staff(staff.account_id)
    read_at = await inbox.mark_read(db, mine, message_id)
    if read_at is None:
        raise Problem(404, "not-found")
    return {"id": message_id, "read_at": iso(read_at), "unread": await inbox.unread_count(db, mine)}
