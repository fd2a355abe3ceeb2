"""The officials' pages: the department's case queue, a case with its actions, and counter form sessions.

A counter form session is the application counterpart of the consent counter: the official opens one form,
the resident scans the QR code on the desk screen with their phone, fills the (pre-filled) form there, and
the desk screen shows the submitted application as soon as it exists (polled, like the consent session).
"""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub.applications import lifecycle
from hub.applications.case_files import CaseFiles
from hub.applications.counter_sessions import session_state
from hub.applications.files import OpenedFile
from hub.applications.service import Move
from hub.applications.views import application_json
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.web import session
from hub.web.render import language, render
from hub.web.staff_notices import unread_of

router = APIRouter(include_in_schema=False)
DOMAINS = ("applications",)


def _qr_data_uri(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="q").save(buffer, kind="png", scale=8, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@router.get("/cases", response_class=HTMLResponse)
async def queue(
    request: Request,
    state: StateDep,
    db: SessionDep,
    status: str = "",
    form: str = "",
    due_by: str = "",
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    try:
        due = date.fromisoformat(due_by) if due_by else None
    except ValueError:
        due = None
    department, rows = await state.applications.queue(
        db,
        official,
        status=status if status in lifecycle.STATES else None,
        form_type=form if form in state.forms else None,
        due_by=due,
    )
    lang = language(request)
    sessions = await state.form_sessions.today(db, official)
    return render(
        request,
        "cases.html",
        domains=(*DOMAINS, "notify"),
        account=official,
        notices_unread=await unread_of(db, official),
        department=department,
        cases=[application_json(r, state.forms[r.form_type], state.sealer) for r in rows],
        titles={k: f.titles[lang] for k, f in state.forms.items()},
        forms=sorted(state.forms.values(), key=lambda f: f.titles[lang]),
        states=lifecycle.STATES,
        chosen={"status": status, "form": form, "due_by": due_by},
        today=state.applications.today().isoformat(),
        sessions=[{"row": s, "state": session_state(s)} for s in sessions],
        csrf=session.csrf_token(state, request),
    )


@router.get("/cases/{application_id}", response_class=HTMLResponse)
async def case_page(application_id: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    row, steps = await state.applications.case(db, official, application_id[:36])
    form = state.forms[row.form_type]
    return render(
        request,
        "case.html",
        domains=DOMAINS,
        account=official,
        form=form,
        case=application_json(row, form, state.sealer, steps),
        files=await state.files.files_of(db, row.application_id),
        files_base=f"/cases/{row.application_id}/files",
        moves=lifecycle.next_states(row.status, "official"),
        csrf=session.csrf_token(state, request),
    )


@router.get("/cases/{application_id}/files/{file_id}", response_class=Response)
async def case_file(
    application_id: str, file_id: str, request: Request, state: StateDep, db: SessionDep
) -> Response:
    """One file of a case of the official's department, decrypted (the link and seal on the case page)."""
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    opened = await CaseFiles(state.applications, state.files).view(
        db, official, application_id[:36], file_id[:36], request.state.request_id
    )
    return file_response(opened)


def file_response(opened: OpenedFile) -> Response:
    """A decrypted case file as the pages serve it: like the API's (hub/api/application_files.py), a
    download never cached or sniffed, carrying the id of the audit event that recorded the view."""
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(
        opened.file.media_type
    )
    name = f"{opened.file.kind}-{opened.file.file_id[:8]}.{extension or 'bin'}"
    return Response(
        opened.content,
        media_type=opened.file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Audit-Event-Id": opened.event_id,
        },
    )


@router.post("/cases/{application_id}/transitions", response_class=HTMLResponse)
async def move(
    application_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    to: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=2000)] = "",
    outcome: Annotated[str, Form(max_length=16)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    try:
        new_due = date.fromisoformat(due_on) if due_on else None
    except ValueError:
        raise Problem(422, "validation-error", errors="due_on (date)") from None
    await state.applications.transition(
        db,
        official,
        application_id[:36],
        Move(to=to, note=note or None, outcome=outcome or None, due_on=new_due),
        request.state.request_id,
    )
    return RedirectResponse(f"/cases/{application_id[:36]}", status_code=303)


@router.post("/counter/forms", response_class=HTMLResponse)
async def open_form_session(
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    form_type: Annotated[str, Form(max_length=64)],
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    row, token = await state.form_sessions.open(db, official, form_type, request.state.request_id)
    return RedirectResponse(f"/counter/forms/{row.session_id}?t={token}", status_code=303)


@router.get("/counter/forms/{session_id}", response_class=HTMLResponse)
async def form_session(
    session_id: str, request: Request, state: StateDep, db: SessionDep, t: str = ""
) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    row, case = await state.form_sessions.status(db, official, session_id)
    lang = language(request)
    current = session_state(row)
    qr = None
    if t and current == "waiting":
        qr = _qr_data_uri(f"{state.settings.public_url}/apply/{row.session_id}?t={t[:100]}")
    form = state.forms[row.form_type]
    return render(
        request,
        "counter_form_session.html",
        domains=DOMAINS,
        account=official,
        row=row,
        title=form.titles[lang],
        form=form,
        state=current,
        qr=qr,
        case=application_json(case, form, state.sealer) if case is not None else None,
        # The submitted case's files (none is listed before the phone submits).
        files=await state.files.files_of(db, case.application_id) if case is not None else [],
        files_base=f"/cases/{case.application_id}/files" if case is not None else "",
    )


@router.get("/counter/forms/{session_id}/status")
async def form_session_status(
    session_id: str, request: Request, state: StateDep, db: SessionDep
) -> JSONResponse:
    """What the desk screen polls: ``pending`` until the application is submitted (or the link expired)."""
    official = session.official(request, state)
    if official is None:
        raise Problem(403, "role-required", role="official")
    row, _ = await state.form_sessions.status(db, official, session_id)
    current = session_state(row)
    return JSONResponse(
        {"status": "pending" if current in ("waiting", "opened") else current, "state": current},
        headers={"Cache-Control": "no-store"},
    )
