"""``/credentials/verify``: a verifier pastes a presentation of an SD-JWT VC and reads the answer.

For a verifier without an SD-JWT library (a counter clerk, a landlord): paste what the resident's wallet
showed (``SD-JWT~disclosures~KB-JWT``) with the audience and the challenge (nonce) the verifier gave, and the
page answers in plain words: *valid* with only the fields the resident chose to disclose (titled in the
reader's language), *revoked*, or which check failed. The answer is the one ``POST /v1/credentials/verify``
gives (``hub.credentials.service``), within the same per-address budget (``hub.ratelimit.limit_verify``);
like the API it accepts a key-binding JWT once, so a presentation checked here cannot be replayed elsewhere
through the hub. Nothing is logged or audited (see the service's docstring for why).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub import i18n
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.ratelimit import GuardDep, Throttled, limit_verify
from hub.state import HubState
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)

DOMAINS: Final = ("credentials",)
LIMITS: Final = {"presentation": 64 * 1024, "audience": 500, "nonce": 200}


def _page(request: Request, state: HubState, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        "credentials_verify.html",
        status_code=status_code,
        domains=DOMAINS,
        account=session.current(request, state),
        limits=LIMITS,
        **context,
    )


def _titled(state: HubState, document_type: str, claims: dict[str, Any], lang: str) -> list[tuple[str, Any]]:
    """The disclosed claims with their field titles in the reader's language (the name if none)."""
    spec = state.catalog.get(document_type)
    rows = []
    for name, value in claims.items():
        field = spec.field(name) if spec is not None else None
        rows.append((field.titles[lang] if field is not None else name, value))
    return rows


@router.get("/credentials/verify", response_class=HTMLResponse)
async def verify_form(request: Request, state: StateDep) -> HTMLResponse:
    return _page(request, state, fields={})


@router.post("/credentials/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, state: StateDep, db: SessionDep, guard: GuardDep) -> HTMLResponse:
    lang = language(request)
    try:
        await limit_verify(request, guard)
    except Throttled as refused:
        page = _page(
            request,
            state,
            status_code=429,
            fields={},
            problem={
                "title": i18n.message(lang, f"{refused.slug}.title"),
                "detail": i18n.message(lang, f"{refused.slug}.detail", **refused.params),
            },
        )
        page.headers.update(refused.headers or {})
        return page
    form = await request.form()
    fields = {name: str(form.get(name) or "").strip()[:limit] for name, limit in LIMITS.items()}
    if not all(fields.values()):
        return _page(request, state, status_code=422, fields=fields, missing=True)
    try:
        verified = await state.credentials.verify(
            db, fields["presentation"], fields["audience"], fields["nonce"]
        )
    except Problem as problem:
        return _page(
            request,
            state,
            status_code=problem.status,
            fields={**fields, "presentation": ""},  # a refused presentation is not echoed back
            problem={
                "slug": problem.slug,
                "title": i18n.message(lang, f"{problem.slug}.title"),
                "detail": i18n.message(lang, f"{problem.slug}.detail", **problem.params),
            },
        )
    document_type = verified.vct.rsplit(":", 1)[-1]
    spec = state.catalog.get(document_type)
    return _page(
        request,
        state,
        fields={"audience": fields["audience"], "nonce": ""},
        verdict=verified.status,
        document_title=spec.titles[lang] if spec is not None else document_type,
        claims=_titled(state, document_type, verified.claims, lang) if verified.status == "valid" else [],
        undisclosed=verified.undisclosed,
        issuer=verified.issuer,
    )
