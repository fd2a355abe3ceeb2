"""The resident's application pages: forms, filling (pre-filled under one consent), my applications.

A form opens on its consent step when it pre-fills from records: which record fills which field and why (the
form's statute), one consent for the documents the resident ticks, then the form pre-filled. What is typed is
kept as a draft until it is submitted. A counter's QR link (``/apply/{session}``) binds the session to the
signed-in resident and opens the same form; the application submitted from it appears on the desk at once.
The use cases are ``hub.applications``'s, shared with the API; every change is audited in the request's
transaction.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from hub.applications import lifecycle
from hub.applications.answers import AnswersInvalid, clean, shown
from hub.applications.case_files import CaseFiles
from hub.applications.files import StoredFile
from hub.applications.models import DraftRow
from hub.applications.prefill import plan, source_of
from hub.applications.service import SUBMISSION_KEY_LIMIT, Move
from hub.applications.views import application_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import session
from hub.web.cases import file_response
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS = ("applications",)
FIELD_PREFIX = "f."


def answers_from(form: FormData) -> dict[str, str]:
    """The form's answers as posted (``f.<field>``), blanks kept so that a cleared field clears."""
    return {
        key.removeprefix(FIELD_PREFIX): str(value)
        for key, value in form.multi_items()
        if key.startswith(FIELD_PREFIX) and isinstance(value, str)
    }


def field_errors(exc: AnswersInvalid) -> dict[str, str]:
    return {e.field: e.code for e in exc.errors}


def _message(
    request: Request, account: AccountPrincipal, heading: str, text: str, status: int
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
        back="/me/applications",
    )


@router.get("/me/applications", response_class=HTMLResponse)
async def my_applications(request: Request, state: StateDep, db: SessionDep) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    lang = language(request)
    rows = await state.applications.mine(db, resident)
    drafts = await state.applications.drafts(db, resident)
    return render(
        request,
        "applications.html",
        domains=DOMAINS,
        account=resident,
        forms=sorted(state.forms.values(), key=lambda f: f.titles[lang]),
        applications=[application_json(r, state.forms[r.form_type], state.sealer) for r in rows],
        drafts=[d for d in drafts if d.form_type in state.forms],
        titles={k: f.titles[lang] for k, f in state.forms.items()},
    )


def _fill_page(
    request: Request,
    state: HubState,
    resident: AccountPrincipal,
    form_type: str,
    draft: DraftRow | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    form = state.forms[form_type]
    lang = language(request)
    sources = dict(draft.prefilled) if draft is not None else {}
    current = values if values is not None else shown(form, draft.answers, state.sealer) if draft else {}
    documents = {d["document_type"]: d["titles"][lang] for d in plan(form, state.catalog)}
    return render(
        request,
        "application_fill.html",
        status_code=status_code,
        domains=DOMAINS,
        account=resident,
        form=form,
        values=current,
        sources={k: documents.get(str(source_of(v)).split("/")[0], "") for k, v in sources.items()},
        errors=errors or {},
        saved=saved,
        counter=draft.counter_session_id if draft is not None else None,
        # The page's submission key: the draft it shows, or its own; submitting it twice makes one case.
        submission=draft.draft_id if draft is not None else str(uuid.uuid4()),
        csrf=session.csrf_token(state, request),
    )


@router.get("/me/applications/new/{form_type}", response_class=HTMLResponse)
async def fill(
    form_type: str, request: Request, state: StateDep, db: SessionDep, step: str = "", session_id: str = ""
) -> Response:
    """The consent step first (for a form that pre-fills and has no draft yet), then the form."""
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    form = state.applications.form(form_type)
    draft = await state.applications.draft(db, resident, form.type)
    if session_id:
        await state.form_sessions.of_resident(db, resident, session_id)
        draft = await state.applications.save_draft(
            db, resident, form.type, draft.answers if draft else {}, counter_session_id=session_id
        )
    untouched = draft is None or (not draft.answers and not draft.prefilled)
    if (form.prefill and untouched and step != "form") or step == "consent":
        return render(
            request,
            "application_consent.html",
            domains=DOMAINS,
            account=resident,
            form=form,
            plan=plan(form, state.catalog),
            csrf=session.csrf_token(state, request),
        )
    return _fill_page(request, state, resident, form.type, draft)


@router.post("/me/applications/new/{form_type}/prefill", response_class=HTMLResponse)
async def consent_and_prefill(
    form_type: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    documents: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies form defaults
) -> Response:
    """One consent for the ticked documents; each is read through the audited lookup, then the form."""
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    form = state.applications.form(form_type)
    filled = await state.prefill.prefill(db, resident, form, documents, request.state.request_id)
    draft = await state.applications.draft(db, resident, form.type)
    typed = dict(draft.answers) if draft is not None else {}
    await state.applications.save_draft(
        db,
        resident,
        form.type,
        {**filled.values, **{k: v for k, v in typed.items() if k not in filled.values}},
        sources=filled.with_values(),
    )
    return RedirectResponse(f"/me/applications/new/{form.type}?step=form", status_code=303)


@router.post("/me/applications/new/{form_type}", response_class=HTMLResponse)
async def save_or_submit(form_type: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    posted = await request.form()
    session.check_csrf(state, request, str(posted.get("csrf", "")))
    form = state.applications.form(form_type)
    answers = answers_from(posted)
    draft = await state.applications.draft(db, resident, form.type)
    for field in form.fields:  # a kept resident number is shown masked, so a blank input keeps the sealed one
        if field.type == "resident_number" and not answers.get(field.name, "").strip() and draft is not None:
            if field.name in draft.answers:
                answers[field.name] = draft.answers[field.name]
    submitting = posted.get("action") == "submit"
    try:
        clean(form, answers, state.sealer, complete=submitting)
    except AnswersInvalid as exc:
        return _fill_page(
            request,
            state,
            resident,
            form.type,
            draft,
            values=answers,
            errors=field_errors(exc),
            status_code=422,
        )
    if not submitting:
        draft = await state.applications.save_draft(db, resident, form.type, answers)
        return _fill_page(request, state, resident, form.type, draft, saved=True)
    key = str(posted.get("submission", ""))[:SUBMISSION_KEY_LIMIT] or None
    try:
        row = await state.applications.submit(
            db,
            resident,
            form.type,
            answers,
            request.state.request_id,
            sources=draft.prefilled if draft is not None else {},
            counter_session_id=draft.counter_session_id if draft is not None else None,
            submission_key=key,
        )
    except Problem as problem:
        if problem.slug != "application-already-submitted":
            raise
        # A second click while the first submit was in flight: its case is the one the resident made. This
        # request wrote nothing else; its failed insert is undone so that the request's commit succeeds.
        await db.rollback()
        return RedirectResponse(f"/me/applications/{problem.extra['application_id']}", status_code=303)
    return RedirectResponse(f"/me/applications/{row.application_id}", status_code=303)


@router.get("/me/applications/{application_id}", response_class=HTMLResponse)
async def my_application(application_id: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    try:
        row, steps = await state.applications.case(db, resident, application_id[:36])
    except Problem:
        strings = _strings(request)
        return _message(request, resident, strings["apps.title"], strings["apps.not_found"], 404)
    files = await state.files.files_of(db, row.application_id)
    return _case_page(request, state, resident, application_id, row, steps, files)


@router.get("/me/applications/{application_id}/files/{file_id}", response_class=Response)
async def my_application_file(
    application_id: str, file_id: str, request: Request, state: StateDep, db: SessionDep
) -> Response:
    """One file of my application, decrypted (a link or the seal on my case page); the view is audited."""
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    opened = await CaseFiles(state.applications, state.files).view(
        db, resident, application_id[:36], file_id[:36], request.state.request_id
    )
    return file_response(opened)


def _strings(request: Request) -> Strings:
    return Strings(language(request), (*SHARED_DOMAINS, *DOMAINS))


def _case_page(
    request: Request,
    state: HubState,
    resident: AccountPrincipal,
    application_id: str,
    row: Any,
    steps: Any,
    files: list[StoredFile],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    form = state.forms[row.form_type]
    return render(
        request,
        "application.html",
        status_code=status_code,
        domains=DOMAINS,
        account=resident,
        form=form,
        case=application_json(row, form, state.sealer, steps),
        files=files,
        files_base=f"/me/applications/{row.application_id}/files",
        can_supplement=row.status == lifecycle.SUPPLEMENTATION_REQUESTED,
        can_withdraw=lifecycle.allowed_role(row.status, lifecycle.WITHDRAWN) == "resident",
        errors=errors or {},
        csrf=session.csrf_token(state, request),
    )


@router.post("/me/applications/{application_id}/move", response_class=HTMLResponse)
async def move_my_application(
    application_id: str, request: Request, state: StateDep, db: SessionDep
) -> Response:
    """Supplement (with changed answers) or withdraw."""
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    posted = await request.form()
    session.check_csrf(state, request, str(posted.get("csrf", "")))
    target = str(posted.get("to", ""))
    if target not in (lifecycle.SUPPLEMENTED, lifecycle.WITHDRAWN):
        raise Problem(422, "validation-error", errors="to (unknown)")
    changed = {k: v for k, v in answers_from(posted).items() if v.strip()}
    note = str(posted.get("note", ""))[:2000] or None
    try:
        await state.applications.transition(
            db,
            resident,
            application_id[:36],
            Move(to=target, note=note, answers=changed or None),
            request.state.request_id,
        )
    except Problem as problem:
        if problem.slug != "validation-error" or "fields" not in problem.extra:
            raise
        row, steps = await state.applications.case(db, resident, application_id[:36])
        errors = {f["field"]: f["code"] for f in problem.extra["fields"]}
        files = await state.files.files_of(db, row.application_id)
        return _case_page(request, state, resident, application_id, row, steps, files, errors, 422)
    return RedirectResponse(f"/me/applications/{application_id[:36]}", status_code=303)


@router.post("/me/applications/{application_id}/rating", response_class=HTMLResponse)
async def rate(
    application_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    rating: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    await state.applications.rate(
        db, resident, application_id[:36], rating, comment or None, request.state.request_id
    )
    return RedirectResponse(f"/me/applications/{application_id[:36]}", status_code=303)


@router.get("/apply/{session_id}", response_class=HTMLResponse)
async def counter_link(
    session_id: str, request: Request, state: StateDep, db: SessionDep, t: str = ""
) -> Response:
    """The counter's QR code leads here: sign in, the session becomes this resident's, the form opens."""
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    row = await state.form_sessions.bind(db, resident, session_id, t[:100], request.state.request_id)
    return RedirectResponse(
        f"/me/applications/new/{row.form_type}?session_id={row.session_id}", status_code=303
    )
