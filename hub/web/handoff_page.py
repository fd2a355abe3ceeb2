"""``/counter/handoff``: the counter reads an application handed over offline as QR codes.

The official uploads pictures of the codes the applicant's phone shows (or pastes their texts, as a
phone-camera app reads them). The page opens them with the same service as ``POST
/v1/counter/handoff/decode`` (``HandoffService.open``) for the official's own counter: decrypt, verify the
hub's signature and freshness, accept once, record either way; it shows the application, or the refusal in
plain words with its reason. The body is read here (pictures are binary), capped by ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from hub import i18n
from hub.actors import account_actor
from hub.applications.files import FileActor
from hub.applications.handoff import MAX_CHUNKS, MAX_QR_IMAGE_BYTES, counter_id_for, read_png
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("handoff",)
PATH: Final = "/counter/handoff"
MAX_BODY_BYTES: Final = 6 * 1024 * 1024  # the pictures of one hand-off and the form around them
MAX_CODES_CHARS: Final = 12_000


def _page(
    request: Request, state: HubState, official: AccountPrincipal, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request,
        "counter_handoff.html",
        status_code=status_code,
        domains=DOMAINS,
        account=official,
        counter_id=counter_id_for(official.org or ""),
        csrf=session.csrf_token(state, request),
        **context,
    )


@router.get(PATH, response_class=HTMLResponse)
async def handoff_form(request: Request, state: StateDep) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    return _page(request, state, official)


@router.post(PATH, response_class=HTMLResponse)
async def handoff_read(request: Request, state: StateDep, db: SessionDep) -> Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    lang = language(request)
    try:
        csrf, chunks, pictures = await _read_form(request)
        session.check_csrf(state, request, csrf)
        for picture in pictures:
            chunks.extend(await asyncio.to_thread(read_png, picture))  # CPU-bound: Pillow, zxing-cpp
        opened = await state.handoff.open(
            db,
            chunks,
            counter_id=counter_id_for(official.org or ""),
            actor=FileActor.of(account_actor(official)),
            request_id=request.state.request_id,
        )
    except Problem as refused:
        if refused.slug in ("csrf-failed", "role-required"):
            raise
        params = {k: v for k, v in refused.params.items() if isinstance(v, str | int)}
        refusal = {
            "title": i18n.message(lang, f"{refused.slug}.title"),
            "detail": i18n.message(lang, f"{refused.slug}.detail", **params),
            "reason": refused.extra.get("reason", ""),
            "slug": refused.slug,
        }
        return _page(request, state, official, status_code=refused.status, refusal=refusal)
    application = opened.application
    form = state.forms.get(str(application.get("form_type", "")))
    answers = application.get("answers") if isinstance(application.get("answers"), dict) else {}
    rows = []
    for name, value in (answers or {}).items():
        field = form.field(name) if form is not None else None
        rows.append((field.labels.get(lang, name) if field is not None else name, _shown(value)))
    title = form.titles.get(lang, form.type) if form is not None else application.get("form_type", "")
    return _page(
        request,
        state,
        official,
        accepted={
            "case_number": application.get("case_number", ""),
            "form": title,
            "submitted_at": _moment(application.get("submitted_at")),
            "rows": rows,
            "audit_event_id": opened.event_id,
        },
    )


def _moment(value: object) -> datetime | None:
    """The sealed ISO 8601 time, for the page to write the reader's way (Korean time); None if unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


async def _read_form(request: Request) -> tuple[str, list[str], list[bytes]]:
    """The CSRF token, the pasted code texts and the uploaded pictures; oversized or malformed → 4xx."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, "payload-too-large", limit=MAX_BODY_BYTES)
    try:
        form = await request.form(max_files=MAX_CHUNKS, max_fields=4, max_part_size=MAX_CODES_CHARS * 4)
    except HTTPException:
        raise Problem(422, "validation-error", errors="form (malformed)") from None
    try:
        csrf, codes = form.get("csrf"), form.get("codes")
        csrf_text = csrf if isinstance(csrf, str) else ""
        text = codes if isinstance(codes, str) else ""
        if "\x00" in text or "\x00" in csrf_text or len(text) > MAX_CODES_CHARS:
            raise Problem(422, "validation-error", errors="codes")
        chunks = [line.strip() for line in text.splitlines() if line.strip()]
        pictures = []
        for upload in form.getlist("images"):
            if isinstance(upload, UploadFile):
                picture = await upload.read(MAX_QR_IMAGE_BYTES + 1)  # read_png refuses one over the cap
                if picture:
                    pictures.append(picture)
        return csrf_text, chunks, pictures
    finally:
        await form.close()
