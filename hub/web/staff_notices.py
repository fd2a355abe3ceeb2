"""``/staff/notices``: the notices of an official, a privacy officer or an auditor, in their language.

What ``GET /v1/staff/notifications`` gives, as a page: the deadline alerts of the cases assigned to an
official, the new disputes of a privacy officer's organisation, the disputes escalated to the auditors; each
with its verification code and a link to the case or the dispute, newest first, paged, and marked read with a
button (a form post, CSRF-checked). The case queue (``/cases``) shows the unread count and links here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.notify import inbox
from hub.notify.outbox import STAFF_ROLES
from hub.state import HubState
from hub.web import session
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("notify",)
PAGE_SIZE: Final = 20


def staff_account(request: Request, state: HubState) -> AccountPrincipal | None:
    account = session.current(request, state)
    return account if account is not None and account.role in STAFF_ROLES else None


def link_of(notice: dict[str, Any], role: str) -> str | None:
    """Where a notice leads: its case for an official, the dispute queue for an officer or an auditor."""
    if notice.get("application_id") and role == "official":
        return f"/cases/{notice['application_id']}"
    if notice.get("dispute_id"):
        queue = "/audit/disputes" if role == "auditor" else "/disputes"
        return f"{queue}#dispute-{notice['dispute_id']}"
    return None


def _refused(request: Request, account: AccountPrincipal) -> HTMLResponse:
    """A resident reaching a staff page: told plainly (their own notices are on their page)."""
    strings = Strings(language(request), (*SHARED_DOMAINS, *DOMAINS))
    return render(
        request,
        "message.html",
        status_code=403,
        domains=DOMAINS,
        heading=strings["notify.staff.forbidden_title"],
        message=strings["notify.staff.forbidden"],
        account=account,
        receipt=None,
        back=None,
    )


async def unread_of(db: Any, account: AccountPrincipal) -> int:
    """The unread count the officials' pages show beside the link here."""
    return await inbox.unread_count(db, inbox.Staff(account.account_id))


@router.get("/staff/notices", response_class=HTMLResponse)
async def staff_notices(
    request: Request, state: StateDep, db: SessionDep, cursor: str = "", unread: str = ""
) -> Response:
    account = staff_account(request, state)
    if account is None:
        other = session.current(request, state)
        return session.login_redirect(request) if other is None else _refused(request, other)
    lang = language(request)
    try:
        found = await inbox.page(
            db,
            inbox.Staff(account.account_id),
            cursor=cursor[:20] or None,
            limit=PAGE_SIZE,
            unread_only=unread == "1",
        )
    except ValueError:  # a cursor that is not one: the first page
        found = await inbox.page(db, inbox.Staff(account.account_id), limit=PAGE_SIZE)

    def title(document_type: str | None) -> str:
        spec = state.catalog.get(document_type or "")
        return spec.titles.get(lang, spec.type) if spec is not None else (document_type or "")

    notices = []
    for row in found.items:
        notice = inbox.as_json(row, lang, state.keys.data_key, title)
        notices.append({**notice, "link": link_of(notice, account.role)})
    return render(
        request,
        "staff_notices.html",
        domains=DOMAINS,
        account=account,
        notices=notices,
        unread=found.unread,
        unread_only=unread == "1",
        next_cursor=found.next_cursor,
        csrf=session.csrf_token(state, request),
    )


@router.post("/staff/notices/{message_id}/read", response_class=HTMLResponse)
async def read_staff_notice(
    message_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    account = staff_account(request, state)
    if account is None:
        other = session.current(request, state)
        return session.login_redirect(request) if other is None else _refused(request, other)
    session.check_csrf(state, request, csrf)
    await inbox.mark_read(db, inbox.Staff(account.account_id), message_id[:36])  # another's: no change
    return RedirectResponse(f"/staff/notices#notice-{message_id[:36]}", status_code=303)
