"""Filing a form for someone else on the web: the agent picks whose mandate, types the form, adds the seal.

The API's proxy application (``POST /v1/me/applications`` with ``mandate_id``, then the seal upload) as one
page and one submit, so that a proxy at home or at a counter needs no tool but the browser. The page offers
only the mandates the signed-in resident holds, live and covering the form's records (the rule the service
checks again on submit); the case and its seal are written in the request's one transaction, so a seal that
is refused (not a PNG or JPEG by its content, too large, a pixel bomb) leaves no case behind, and a case is
never filed without its seal.

No pre-fill: a mandate lets the agent act for the principal on consents, not read the principal's records
into a form the agent types; the page says so, and the agent types the principal's details. The submit is a
multipart body with a picture in it (binary, so NUL bytes): this module reads it itself, under its own cap
(``MAX_BODY_BYTES``), and refuses NUL in the text fields, as the NUL middleware would.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from hub.applications.answers import AnswersInvalid, clean
from hub.applications.case_files import CaseFiles
from hub.applications.proxy import HeldMandate, held_mandates, principal_name
from hub.applications.seal import MAX_SEAL_BYTES, clean_seal
from hub.applications.service import SUBMISSION_KEY_LIMIT
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import session
from hub.web.applications import DOMAINS, answers_from, field_errors
from hub.web.render import language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)

PATH: Final = "/me/applications/proxy"
# The seal at its cap plus the form around it; a larger body is refused before it is read.
MAX_BODY_BYTES: Final = MAX_SEAL_BYTES + 256 * 1024
_MAX_FIELDS: Final = 100


async def _mandates(state: HubState, db: SessionDep, agent: AccountPrincipal, form_type: str) -> list[Any]:
    """Whom the agent may file this form for: each held mandate with its principal's name and end."""
    form = state.applications.form(form_type)
    documents = {document_type for document_type, _ in form.prefill_documents()}
    out = []
    for held in await held_mandates(db, agent.account_id, documents):
        out.append({"held": held, "name": await principal_name(db, held.principal_account_id) or "?"})
    return out


def _page(
    request: Request,
    state: HubState,
    agent: AccountPrincipal,
    form_type: str,
    mandates: list[Any],
    *,
    chosen: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    submission: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    form = state.forms[form_type]
    shown = {  # a typed resident number is not echoed back into the page: it is typed again
        k: v for k, v in (values or {}).items() if (f := form.field(k)) is None or f.type != "resident_number"
    }
    return render(
        request,
        "application_proxy.html",
        status_code=status_code,
        domains=DOMAINS,
        account=agent,
        form=form,
        mandates=mandates,
        chosen=chosen or (mandates[0]["held"].mandate_id if len(mandates) == 1 else ""),
        values=shown,
        errors=errors or {},
        submission=submission or str(uuid.uuid4()),
        max_seal_mb=MAX_SEAL_BYTES // (1024 * 1024),
        csrf=session.csrf_token(state, request),
    )


def _not_offered(request: Request, agent: AccountPrincipal) -> HTMLResponse:
    strings = Strings(language(request), ("common", *DOMAINS))
    return render(
        request,
        "message.html",
        status_code=404,
        domains=DOMAINS,
        heading=strings["apps.proxy.title"],
        message=strings["apps.proxy.not_allowed"],
        account=agent,
        receipt=None,
        back="/me/applications",
    )


@router.get("/me/applications/new/{form_type}/proxy", response_class=HTMLResponse)
async def proxy_form(form_type: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    """The form to file for someone else: whose mandate, the fields, the seal."""
    agent = session.resident(request, state)
    if agent is None:
        return session.login_redirect(request)
    form = state.applications.form(form_type)
    if not form.proxy_allowed:
        return _not_offered(request, agent)
    return _page(request, state, agent, form.type, await _mandates(state, db, agent, form.type))


async def _read(request: Request) -> tuple[FormData, bytes | None]:
    """The posted fields and the seal's bytes (None when no file was chosen); malformed or NUL → 4xx."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, "payload-too-large", limit=MAX_BODY_BYTES)
    try:
        posted = await request.form(max_files=1, max_fields=_MAX_FIELDS, max_part_size=64 * 1024)
    except HTTPException:
        raise Problem(422, "validation-error", errors="form (malformed)") from None
    for key, value in posted.multi_items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            await posted.close()
            raise Problem(422, "validation-error", errors="body (string_nul)")
    upload = posted.get("seal")
    seal = await upload.read(MAX_SEAL_BYTES + 1) if isinstance(upload, UploadFile) else None
    await posted.close()
    return posted, seal or None


@router.post(PATH, response_class=HTMLResponse)
async def file_for(request: Request, state: StateDep, db: SessionDep) -> Response:
    """Check everything first (answers, seal, mandate), then file the case and attach the seal together."""
    agent = session.resident(request, state)
    if agent is None:
        return session.login_redirect(request)
    posted, seal = await _read(request)
    session.check_csrf(state, request, str(posted.get("csrf", "")))
    form = state.applications.form(str(posted.get("form_type", ""))[:64])
    if not form.proxy_allowed:
        return _not_offered(request, agent)
    mandates = await _mandates(state, db, agent, form.type)
    chosen = str(posted.get("mandate", ""))[:36]
    answers = answers_from(posted)
    key = str(posted.get("submission", ""))[:SUBMISSION_KEY_LIMIT] or None
    errors: dict[str, str] = {}
    try:
        clean(form, answers, state.sealer, complete=True)
    except AnswersInvalid as exc:
        errors = field_errors(exc)
    held: list[HeldMandate] = [m["held"] for m in mandates if m["held"].mandate_id == chosen]
    if not held:
        errors["mandate"] = "no_mandate"
    if seal is None:
        errors["seal"] = "required"
    else:
        try:
            clean_seal(seal)
        except Problem as refused:
            errors["seal"] = refused.slug
    if errors:
        status = 403 if set(errors) == {"mandate"} and chosen else 422
        return _page(
            request, state, agent, form.type, mandates,
            chosen=chosen, values=answers, errors=errors, submission=key, status_code=status,
        )  # fmt: skip
    assert seal is not None
    try:
        row = await state.applications.submit(
            db, agent, form.type, answers, request.state.request_id,
            mandate_id=held[0].mandate_id, submission_key=key,
        )  # fmt: skip
    except Problem as problem:
        if problem.slug != "application-already-submitted":
            raise
        await db.rollback()  # a second click: the first submit's case (and seal) is the one
        return RedirectResponse(f"/me/applications/{problem.extra['application_id']}", status_code=303)
    if not any(f.kind == "seal" for f in await state.files.files_of(db, row.application_id)):
        # (a resubmitted page gets its first case back, already sealed)
        await CaseFiles(state.applications, state.files).attach(
            db, agent, row.application_id, "seal", seal, request.state.request_id
        )
    return RedirectResponse(f"/me/applications/{row.application_id}", status_code=303)
