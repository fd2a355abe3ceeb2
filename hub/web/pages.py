"""The pages of the consent flows: the resident's decision (bank redirect and counter QR link).

They call the same application service as the API (``state.consent``, ``hub.consents``) in the request's
transaction, so a decision made on a phone is audited and receipted exactly like one made through the API.

A counter QR link binds its request to the phone that opens it: that browser gets a random binding cookie
(HttpOnly, SameSite=Lax, only sent to ``/consent/{id}``) whose hash the request keeps, and the decision page
and the decision itself answer 403 to any other browser, and to any resident but the first one seen on that
phone. Whoever glimpses the QR code over a shoulder cannot approve the request with their own identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.actors import account_actor
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.web import session
from hub.web.render import language, render
from hub.web.strings import STRINGS

router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=str(Path(__file__).resolve().parent / "static"))
BINDING_COOKIE = "gy_consent_binding"
BINDING_TTL = 1800  # seconds: outlives the request itself (15 minutes), which is what bounds the binding
BOUND_ELSEWHERE = "consent-request-bound-elsewhere"


def _bind_browser(request: Request, response: Response, request_id: str, binding: str) -> None:
    """Give the browser that opened a counter QR link the secret that binds the request to it."""
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=BINDING_TTL,
        httponly=True,
        samesite="lax",
        secure=session._secure(request),
        path=f"/consent/{request_id}",
    )


def _message(
    request: Request, heading: str, message: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "message.html",
        status_code=status_code,
        heading=heading,
        message=message,
        account=extra.pop("account", None),
        receipt=extra.pop("receipt", None),
    )


def display_value(value: Any) -> str:
    """A released value as page text: lists of records become 'a, b; c, d'."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(
            ", ".join(display_value(v) for v in entry.values())
            if isinstance(entry, dict)
            else display_value(entry)
            for entry in value
        )
    return str(value)


def _rows(doc: dict[str, Any], values: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    rows = []
    for field in doc["fields"]:
        top, _, sub = field["name"].partition(".")
        value = values.get(top)
        if sub and isinstance(value, list):
            value = [entry.get(sub) for entry in value if isinstance(entry, dict)]
        rows.append((field["titles"].get(lang, field["name"]), display_value(value)))
    return rows


@router.get("/consent/{request_id}", response_class=HTMLResponse)
async def consent_page(
    request_id: str, request: Request, state: StateDep, db: SessionDep, t: str | None = None
) -> Response:
    strings = STRINGS[language(request)]
    if t is not None:  # a counter QR link: single use, short-lived
        try:
            binding = await state.consent.open_link(db, request_id, t, request.state.request_id)
        except Problem as problem:
            if problem.status != 410:
                raise
            return _message(request, strings["consent_title"], strings["link_expired"], status_code=410)
        opened = RedirectResponse(f"/consent/{request_id}", status_code=303)
        _bind_browser(request, opened, request_id, binding)
        return opened
    account = session.current(request, state)
    if account is None or account.role != "resident":
        return session.login_redirect(request)
    try:
        view = await state.consent.request_for(
            db, account, request_id, request.cookies.get(BINDING_COOKIE), request.state.request_id
        )
    except Problem as problem:
        if problem.slug != BOUND_ELSEWHERE:
            raise
        return _message(request, strings["consent_title"], strings["opened_elsewhere"], 403, account=account)
    if view is None:
        return _message(request, strings["consent_title"], strings["not_found"], 404, account=account)
    if view.subject_commitment not in (None, account.subject_commitment):
        return _message(request, strings["consent_title"], strings["not_for_you"], 403, account=account)
    if view.status != "pending":
        return _message(request, strings["consent_title"], strings["request_closed"], 409, account=account)
    body = state.consent.request_json(view)
    me = await state.consent.resident_self(db, account)
    subject = state.sealer.open(me.resident_number_sealed)
    actor = account_actor(account)
    lang = language(request)
    documents = []
    for ref in view.documents:
        doc = state.consent.describe_document(ref)
        preview = await state.broker.preview(
            db, actor, subject, ref["document_type"], ref["view"], request.state.request_id
        )
        documents.append({**doc, "rows": _rows(doc, preview.fields, lang)})
    body["documents"] = documents
    mandates = [
        m
        for m in await state.consent.mandates(db, account.account_id)
        if m["agent_account_id"] == account.account_id and m["state"] == "active"
    ]
    return render(
        request,
        "consent.html",
        req=body,
        csrf=session.csrf_token(state, request),
        mandates=mandates,
        account=account,
    )


@router.post("/consent/{request_id}", response_class=HTMLResponse)
async def consent_decision(
    request_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    decision: Annotated[str, Form(pattern="^(approve|deny)$")],
    csrf: Annotated[str, Form(max_length=100)],
    mandate_id: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    strings = STRINGS[language(request)]
    account = session.current(request, state)
    if account is None or account.role != "resident":
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    try:
        outcome = await state.consent.decide(
            db,
            account,
            request_id,
            decision == "approve",
            mandate_id or None,
            request.state.request_id,
            binding=request.cookies.get(BINDING_COOKIE),
        )
    except Problem as problem:
        if problem.status >= 500:
            raise  # nothing was decided: the caller gets the 503, not a friendly page claiming otherwise
        text = strings["request_closed"] if problem.status == 409 else strings["not_for_you"]
        if problem.slug == BOUND_ELSEWHERE:
            text = strings["opened_elsewhere"]
        return _message(request, strings["consent_title"], text, problem.status, account=account)
    if outcome.redirect_to:
        return RedirectResponse(outcome.redirect_to, status_code=303)
    done = strings["approved"] if decision == "approve" else strings["denied_done"]
    return _message(request, strings["decided"], done, account=account, receipt=outcome.receipt)
