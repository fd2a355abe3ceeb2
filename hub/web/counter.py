"""The counter app: an official opens a consent session, the resident approves on their phone, the official
sees the minimized documents side by side (and, when asked, stamped e-documents of them).

Every document shown goes through the broker's audited lookup under the resident's one-time consent; issuing
at the counter goes through ``IssuanceService.issue_with_fields`` under the same consent, so one approval
covers one look (or one issuance) per document, never more.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta
from typing import Annotated, Any

import segno
from babel.dates import format_timedelta
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import utcnow
from consent.records import RequestView
from hub import i18n
from hub.actors import account_actor
from hub.auth.tokens import AccountPrincipal
from hub.consents import DocumentRef
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.issuance.download import pdf_response
from hub.schemas import LookupRequest
from hub.state import HubState
from hub.web import days, session
from hub.web.pages import display_value
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS = ("counter", "applications")
MAX_DOCUMENTS = 20


def _waited(view: RequestView, now: datetime, lang: str) -> str:
    """How long the resident took (or has been taking) to decide, in the reader's words."""
    if view.created_at is None:
        return ""
    end = view.decided_at or (now if view.status == "pending" else view.expires_at)
    return format_timedelta(max(end - view.created_at, timedelta(0)), threshold=2, locale=lang)


async def _today(state: HubState, db: AsyncSession, official_id: str, lang: str) -> list[dict[str, Any]]:
    now = utcnow()
    today = now.astimezone(i18n.KST).date()
    views = await state.consent.requests_by(db, official_id, days.start_of(today))
    return [
        {
            "request_id": v.request_id,
            "opened": v.created_at,
            "documents": [state.catalog[d["document_type"]].titles[lang] for d in v.documents],
            "purpose": v.purpose_text or v.purpose_code,
            "status": v.status,
            "waited": _waited(v, now, lang),
        }
        for v in views
    ]


@router.get("/counter", response_class=HTMLResponse)
async def counter_page(request: Request, state: StateDep, db: SessionDep) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    lang = language(request)
    return render(
        request,
        "counter.html",
        domains=DOMAINS,
        documents=sorted(state.catalog.values(), key=lambda spec: spec.titles[lang]),
        bundles=sorted(state.bundles.values(), key=lambda b: b.titles[lang]),
        sessions=await _today(state, db, official.account_id, lang),
        csrf=session.csrf_token(state, request),
        account=official,
    )


@router.post("/counter", response_class=HTMLResponse)
async def open_counter_session(
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    documents: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    bundle: Annotated[str, Form(max_length=64)] = "",
    purpose_code: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "counter-service",
    purpose_text: Annotated[str, Form(max_length=200)] = "",
    issue: Annotated[bool, Form()] = False,
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    chosen = [DocumentRef(document_type=d.partition(":")[0], view=d.partition(":")[2]) for d in documents]
    if bundle:
        spec = state.bundles.get(bundle)
        if spec is None:
            raise Problem(404, "unknown-bundle", bundle=bundle)
        chosen += [DocumentRef(document_type=d.type, view=d.view) for d in spec.documents]
        purpose_code = spec.purpose_code if purpose_code == "counter-service" else purpose_code
    unique = list({(ref.document_type, ref.view): ref for ref in chosen}.values())
    if not unique or len(unique) > MAX_DOCUMENTS:
        strings = render_strings(request)
        return _page_message(request, strings["counter_title"], strings["choose_documents"], 422, official)
    view, token = await state.consent.open_counter_session(
        db, official, unique, purpose_code, purpose_text or None, request.state.request_id
    )
    issue_flag = "&issue=1" if issue else ""
    return RedirectResponse(f"/counter/sessions/{view.request_id}?t={token}{issue_flag}", status_code=303)


def render_strings(request: Request) -> Strings:
    return Strings(language(request), (*SHARED_DOMAINS, *DOMAINS))


def _page_message(
    request: Request, heading: str, text: str, status: int, official: AccountPrincipal
) -> HTMLResponse:
    return render(
        request,
        "message.html",
        status_code=status,
        domains=DOMAINS,
        heading=heading,
        message=text,
        account=official,
        receipt=None,
        back="/counter",
    )


def _qr_data_uri(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="q").save(buffer, kind="png", scale=8, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def _release(
    state: HubState,
    db: AsyncSession,
    official: AccountPrincipal,
    view: RequestView,
    issue: bool,
    request_id: str,
    lang: str,
) -> tuple[list[dict[str, Any]], bool]:
    """Each document of an approved session, looked up (or issued) once under the consent."""
    actor = account_actor(official)
    results: list[dict[str, Any]] = []
    for ref in view.documents:
        wanted = LookupRequest.model_validate(
            {**ref, "purpose": view.purpose_code, "basis": {"consent_id": view.consent_id}}
        )
        spec = state.catalog[ref["document_type"]]
        issued = None
        try:
            if issue and spec.issuable:
                # the e-document in the page's language beside the Korean original, as on /me/documents
                issued, lookup = await state.issuance.issue_with_fields(db, actor, wanted, request_id, lang)
            else:
                lookup = await state.broker.lookup(db, actor, wanted, request_id)
        except Problem as problem:
            if problem.slug == "consent-exhausted":
                return results, True
            results.append(
                {
                    "title": spec.titles[lang],
                    "error": i18n.message(lang, f"{problem.slug}.detail", **problem.params),
                }
            )
            continue
        titles = {f.name: f.titles[lang] for f in spec.fields}
        view_spec = spec.view(lookup.view)
        results.append(
            {
                "title": spec.titles[lang],
                "view_title": view_spec.titles[lang] if view_spec is not None else lookup.view,
                "holder": spec.holder_titles[lang],
                "rows": [(titles.get(k, k), display_value(v)) for k, v in lookup.fields.items()],
                "issued": issued.issuance_number if issued else None,
            }
        )
    return results, False


@router.get("/counter/sessions/{request_id}", response_class=HTMLResponse)
async def counter_session(
    request_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    t: str | None = None,
    issue: bool = False,
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    view = await state.consent.get_request(db, request_id)
    if view is None or view.requester_id != official.account_id:
        strings = render_strings(request)
        return _page_message(request, strings["counter_title"], strings["not_found"], 404, official)
    lang = language(request)
    qr = _qr_data_uri(f"{state.settings.public_url}/consent/{request_id}?t={t}") if t else None
    results: list[dict[str, Any]] = []
    used = False
    if view.status == "approved" and view.consent_id:
        results, used = await _release(state, db, official, view, issue, request.state.request_id, lang)
    body = state.consent.request_json(view)
    body["document_titles"] = [state.catalog[d["document_type"]].titles[lang] for d in view.documents]
    return render(
        request,
        "counter_session.html",
        domains=DOMAINS,
        req=body,
        qr=qr,
        results=results,
        used=used,
        waited=_waited(view, utcnow(), lang),
        account=official,
    )


@router.get("/counter/sessions/{request_id}/status")
async def counter_status(request_id: str, request: Request, state: StateDep, db: SessionDep) -> JSONResponse:
    official = session.official(request, state)
    if official is None:
        raise Problem(403, "role-required", role="official")
    view = await state.consent.get_request(db, request_id)
    if view is None or view.requester_id != official.account_id:
        return JSONResponse({"status": "unknown"}, status_code=404)
    return JSONResponse({"status": view.status}, headers={"Cache-Control": "no-store"})


@router.get("/counter/issuances/{number}/pdf")
async def counter_pdf(number: str, request: Request, state: StateDep) -> Response:
    """An e-document this official issued at the counter, to print or hand over."""
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    return await pdf_response(state.issuance, account_actor(official), number)
