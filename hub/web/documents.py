"""The resident's own e-documents: request one of their own records as a stamped e-document, download it.

Issuance goes through ``IssuanceService.issue_own`` (basis ``self``): the fields are fetched through the
broker's audited path and the issuance is its own audit event, so the resident's history shows both, each
with the resident as the actor (``hub.actors.account_actor``). The page calls the services on ``state``
and the neutral ``hub.issuance.download``; it imports no API route module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import i18n
from hub.actors import account_actor
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.issuance.download import pdf_response
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
    mine = []
    for doc in await state.issuance.requested_by(account_actor(account)):
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
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    document: Annotated[str, Form(max_length=130, pattern=r"^[a-z0-9_]+:[a-z0-9_]+$")],
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    document_type, _, view = document.partition(":")
    me = await state.consent.resident_self(db, account)
    # Unsealed only to fetch the resident's own records, and only for this request.
    subject = state.sealer.open(me.resident_number_sealed)
    try:
        issued = await state.issuance.issue_own(
            db,
            account_actor(account),
            subject,
            document_type,
            view,
            request.state.request_id,
            language(request),  # the page's language: the PDF shows it beside the Korean original
        )
    except Problem as problem:
        # Rendered as a page, not raised: whatever the failed step wrote was already rolled back (or, for a
        # refusal, committed on purpose), so the commit after this route adds nothing half-done.
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
    return await pdf_response(state.issuance, account_actor(account), number)
