"""``/me/applications/{id}/handoff``: the applicant's phone shows their application as QR codes for a counter
that takes applications offline.

The resident types the counter's code (shown at the desk); the hub seals the application for that counter
(``HandoffService.issue``: signed, encrypted to the counter's key, recorded with its ``jti``) and the page
shows the codes one under the other, with how long they stay valid. A counter without a key pair, or an
application that is not theirs, is refused in plain words.
"""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any, Final

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from hub import i18n
from hub.actors import account_actor
from hub.applications.files import FileActor
from hub.applications.handoff import SEALED_KEYS
from hub.applications.views import application_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("handoff",)
PATH: Final = "/me/applications/{application_id}/handoff"


def _qr(text: str) -> str:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m", mode="byte").save(buffer, kind="png", scale=4, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _page(
    request: Request, state: HubState, resident: AccountPrincipal, application_id: str, **context: Any
) -> HTMLResponse:
    status_code = int(context.pop("status_code", 200))
    return render(
        request,
        "handoff_phone.html",
        status_code=status_code,
        domains=DOMAINS,
        account=resident,
        application_id=application_id,
        csrf=session.csrf_token(state, request),
        **context,
    )


@router.get(PATH, response_class=HTMLResponse)
async def handoff_choose(application_id: str, request: Request, state: StateDep) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    return _page(request, state, resident, application_id[:36])


@router.post(PATH, response_class=HTMLResponse)
async def handoff_show(
    application_id: str,
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    counter_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    resident = session.resident(request, state)
    if resident is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    counter = counter_id.strip().lower()
    try:
        row, _ = await state.applications.case(db, resident, application_id[:36])
        if not counter or not counter.replace("-", "").isalnum() or not counter.isascii():
            raise Problem(404, "not-found")
        shown = application_json(row, state.applications.form(row.form_type), state.sealer)
        sealed = await state.handoff.issue(
            db,
            {key: shown[key] for key in SEALED_KEYS},
            counter,
            actor=FileActor.of(account_actor(resident)),
            request_id=request.state.request_id,
            subject_commitment=row.subject_commitment,
        )
    except Problem as refused:
        lang = language(request)
        refusal = {
            "title": i18n.message(lang, f"{refused.slug}.title"),
            "detail": i18n.message(lang, f"{refused.slug}.detail", **refused.params),
        }
        return _page(
            request, state, resident, application_id[:36], status_code=refused.status, refusal=refusal
        )
    codes = [_qr(chunk) for chunk in sealed.chunks]
    return _page(
        request,
        state,
        resident,
        row.application_id,
        codes=codes,
        counter_id=counter,
        expires_at=sealed.expires_at,
    )
