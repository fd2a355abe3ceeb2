"""Dispute pages: a resident disputes an entry of their history; officers and auditors answer.

The resident reaches the form from the "dispute" link of an entry on ``/me/history`` (by its leaf index),
sees what the entry says, and sends a reason; ``/me/disputes`` follows each dispute to its answer. A privacy
officer answers their organisation's disputes on ``/disputes``; the auditors see every dispute and the time
of each step on ``/audit/disputes`` and answer those escalated to them. Every change goes through
``hub.applications.disputes`` in the request's transaction (its audit event and the resident's notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import i18n
from hub.applications import disputes
from hub.applications.disputes import PRIVACY_OFFICER, Answer, dispute_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import session
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("disputes", "portal")
# A log position: bounded so that no index overflows a BIGINT (a 422, never a 500).
LeafIndex = Annotated[int, Path(ge=0, le=2**62)]


def duration_text(seconds: float | None, lang: str) -> str:
    """A span for people: minutes under an hour, hours with one decimal above (the dashboard's too)."""
    strings = Strings(lang, ("disputes",))
    if seconds is None:
        return strings["dash.none"]
    if seconds < 3600:
        return f"{i18n.format_number(round(seconds / 60), lang)} {strings['dash.minutes']}"
    return f"{i18n.format_number(round(seconds / 3600, 1), lang)} {strings['dash.hours']}"


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    return render(
        request,
        template,
        status_code=status_code,
        domains=DOMAINS,
        duration=lambda seconds: duration_text(seconds, lang),
        **context,
    )


def _strings(request: Request) -> Strings:
    return Strings(language(request), (*SHARED_DOMAINS, *DOMAINS))


def _problem_text(request: Request, problem: Problem) -> tuple[str, str]:
    lang = language(request)
    try:
        return (
            i18n.message(lang, f"{problem.slug}.title"),
            i18n.message(lang, f"{problem.slug}.detail", **problem.params),
        )
    except (KeyError, IndexError):
        strings = _strings(request)
        return strings["dispute.error_title"], problem.slug


def _message(
    request: Request, status: int, heading: str, text: str, account: AccountPrincipal, back: str | None
) -> HTMLResponse:
    return render(
        request,
        "message.html",
        status_code=status,
        domains=DOMAINS,
        heading=heading,
        message=text,
        account=account,
        receipt=None,
        back=back,
    )


def _shown(state: HubState, row: disputes.DisputeRow, lang: str) -> dict[str, Any]:
    """A dispute as the pages show it: the API's shape plus the entry's titles in the reader's language."""
    body = dispute_json(row)
    entry = body["entry"]
    spec = state.catalog.get(entry.get("document_type") or "")
    body["document"] = spec.titles.get(lang, spec.type) if spec is not None else ""
    return body


def _entry_view(state: HubState, entry: Mapping[str, Any], lang: str) -> dict[str, Any]:
    spec = state.catalog.get(entry.get("document_type") or "")
    return {**entry, "document": spec.titles.get(lang, spec.type) if spec is not None else ""}


def _page_status(problem: Problem) -> int:
    """A page answers someone else's entry like an unknown one (404), as the leaves API does; the message
    still says which it was. The API keeps the two apart (403 ``dispute-not-yours``)."""
    return 404 if problem.slug == "dispute-not-yours" else problem.status


# -- the resident -------------------------------------------------------------------------------------------


def _dispute_form(
    request: Request,
    account: AccountPrincipal,
    leaf_index: int,
    entry: Mapping[str, Any],
    state: HubState,
    *,
    status_code: int = 200,
    error: tuple[str, str] | None = None,
    reason: str = "",
) -> HTMLResponse:
    return _render(
        request,
        "dispute_new.html",
        status_code=status_code,
        account=account,
        leaf_index=leaf_index,
        entry=_entry_view(state, entry, language(request)),
        error=error,
        reason=reason,
    )


@router.get("/me/history/{leaf_index}/dispute", response_class=HTMLResponse)
async def dispute_form(leaf_index: LeafIndex, request: Request, state: StateDep, db: SessionDep) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    try:
        entry, _ = await state.disputes.evidence(leaf_index, account)
        if await state.disputes.disputed(db, leaf_index):
            raise Problem(409, "dispute-exists")
    except Problem as problem:
        heading, text = _problem_text(request, problem)
        back = "/me/disputes" if problem.slug == "dispute-exists" else "/me/history"
        return _message(request, _page_status(problem), heading, text, account, back)
    return _dispute_form(request, account, leaf_index, entry, state)


@router.post("/me/history/{leaf_index}/dispute", response_class=HTMLResponse)
async def file_dispute(
    leaf_index: LeafIndex,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    try:
        row = await state.disputes.file(db, account, leaf_index, reason, request.state.request_id)
    except Problem as problem:
        await db.rollback()  # nothing of a refused dispute is kept
        error = _problem_text(request, problem)
        try:
            entry, _ = await state.disputes.evidence(leaf_index, account)
        except Problem:
            return _message(request, _page_status(problem), *error, account, "/me/history")
        # The reason is not echoed back: it could carry what the refusal was about (a resident number).
        return _dispute_form(
            request, account, leaf_index, entry, state, status_code=problem.status, error=error
        )
    return RedirectResponse(f"/me/disputes#dispute-{row.dispute_id}", status_code=303)


@router.get("/me/disputes", response_class=HTMLResponse)
async def my_disputes(request: Request, state: StateDep, db: SessionDep) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    lang = language(request)
    rows = await state.disputes.of_resident(db, account)
    return _render(
        request,
        "disputes_mine.html",
        account=account,
        disputes=[_shown(state, r, lang) for r in rows],
    )


# -- privacy officers and auditors --------------------------------------------------------------------------


def _answerer(request: Request, state: HubState, role: str) -> AccountPrincipal | Response:
    account = session.current(request, state)
    if account is None:
        return session.login_redirect(request)
    if account.role != role:
        strings = _strings(request)
        return _message(
            request, 403, strings["dispute.forbidden_title"], strings["dispute.forbidden"], account, None
        )
    return account


async def _queue_page(
    request: Request, state: HubState, db: Any, account: AccountPrincipal, status: str, template: str
) -> Response:
    lang = language(request)
    rows = await state.disputes.queue(db, account, status if status in disputes.STATES else None)
    return _render(
        request,
        template,
        account=account,
        disputes=[_shown(state, r, lang) for r in rows],
        states=disputes.STATES,
        chosen=status if status in disputes.STATES else "",
        csrf=session.csrf_token(state, request),
        moves={
            s: [to for (frm, to), role in disputes.MOVES.items() if frm == s and role == account.role]
            for s in disputes.STATES
        },
        now=datetime.now(UTC),
    )


@router.get("/disputes", response_class=HTMLResponse)
async def officer_queue(request: Request, state: StateDep, db: SessionDep, status: str = "") -> Response:
    account = _answerer(request, state, PRIVACY_OFFICER)
    if isinstance(account, Response):
        return account
    return await _queue_page(request, state, db, account, status[:32], "disputes_queue.html")


@router.get("/audit/disputes", response_class=HTMLResponse)
async def auditor_disputes(request: Request, state: StateDep, db: SessionDep, status: str = "") -> Response:
    account = _answerer(request, state, "auditor")
    if isinstance(account, Response):
        return account
    return await _queue_page(request, state, db, account, status[:32], "audit_disputes.html")


@router.post("/disputes/{dispute_id}/answer", response_class=HTMLResponse)
async def answer(
    dispute_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    action: Annotated[str, Form(max_length=32)],
    answer: Annotated[str, Form(max_length=4000)] = "",
    basis: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    account = session.current(request, state)
    if account is None:
        return session.login_redirect(request)
    back = "/audit/disputes" if account.role == "auditor" else "/disputes"
    if account.role not in (PRIVACY_OFFICER, "auditor"):
        strings = _strings(request)
        return _message(
            request, 403, strings["dispute.forbidden_title"], strings["dispute.forbidden"], account, None
        )
    session.check_csrf(state, request, csrf)
    if action not in ("justified", "error_acknowledged", "escalated"):
        problem = Problem(422, "validation-error", errors="action (unknown)")
    else:
        try:
            said = Answer(action=action, text=answer, basis=basis or None)  # type: ignore[arg-type]
            await state.disputes.answer(db, account, dispute_id[:36], said, request.state.request_id)
            return RedirectResponse(f"{back}#dispute-{dispute_id[:36]}", status_code=303)
        except Problem as refused:
            await db.rollback()
            problem = refused
    heading, text = _problem_text(request, problem)
    return _message(request, problem.status, heading, text, account, back)
