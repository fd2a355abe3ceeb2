"""The resident's own e-documents: request one of their own records as a stamped e-document, download it.

Issuance goes through ``IssuanceService.issue_own`` (basis ``self``): the fields are fetched through the
broker's audited path and the issuance is its own audit event, so the resident's history shows both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consent import Actor
from hub import i18n
from hub.api.consents import own_resident_number
from hub.api.issuance import issuance_service, signed_pdf
from hub.deps import StateDep
from hub.errors import Problem
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)
DOMAINS = ("portal",)


def _choices(state: StateDep, lang: str) -> list[tuple[str, str]]:
    """Every issuable document and view, as ``type:view`` with its title in the reader's language."""
    return [
        (f"{spec.type}:{view.name}", f"{spec.titles[lang]} — {view.titles[lang]}")
        for spec in sorted(state.catalog.values(), key=lambda s: s.titles[lang])
        if spec.issuable
        for view in spec.views
    ]


@router.get("/me/documents", response_class=HTMLResponse)
async def documents_page(request: Request, state: StateDep, issued: str | None = None) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    lang = language(request)
    actor = Actor(kind="resident", id=account.account_id, org="")
    mine = []
    for doc in await issuance_service(state).requested_by(actor):
        spec = state.catalog.get(doc.document_type)
        view = spec.view(doc.view) if spec is not None else None
        mine.append(
            {
                "number": doc.issuance_number,
                "title": spec.titles[lang] if spec is not None else doc.document_type,
                "view_title": view.titles[lang] if view is not None else doc.view,
                "issued_at": doc.issued_at,
                "retain_until": doc.retain_until,
                "status": doc.status,
                "downloadable": doc.downloadable,
            }
        )
    just_issued = next((m for m in mine if m["number"] == issued), None)
    return render(
        request,
        "me_documents.html",
        domains=DOMAINS,
        account=account,
        csrf=session.csrf_token(state, request),
        choices=_choices(state, lang),
        documents=mine,
        just_issued=just_issued,
    )


@router.post("/me/documents", response_class=HTMLResponse)
async def request_document(
    request: Request,
    state: StateDep,
    csrf: Annotated[str, Form(max_length=100)],
    document: Annotated[str, Form(max_length=130, pattern=r"^[a-z0-9_]+:[a-z0-9_]+$")],
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    document_type, _, view = document.partition(":")
    actor = Actor(kind="resident", id=account.account_id, org="")
    subject = await own_resident_number(state, account)
    try:
        issued = await issuance_service(state).issue_own(
            actor, subject, document_type, view, request.state.request_id
        )
    except Problem as problem:
        lang = language(request)
        return render(
            request,
            "message.html",
            status_code=problem.status,
            domains=DOMAINS,
            heading=i18n.message(lang, f"{problem.slug}.title"),
            message=i18n.message(lang, f"{problem.slug}.detail", **problem.params),
            account=account,
            receipt=None,
            back="/me/documents",
        )
    return RedirectResponse(f"/me/documents?issued={issued.issuance_number}", status_code=303)


@router.get("/me/documents/{number}/pdf")
async def download_document(number: str, request: Request, state: StateDep) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    actor = Actor(kind="resident", id=account.account_id, org="")
    return await signed_pdf(state, actor, number)
