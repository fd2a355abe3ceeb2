"""``/notices/verify``: anyone checks whether a message claiming to be from the hub really is.

Every notice carries a verification code (``hub.notify.codes``), and every e-mailed notice a link to this page
with its code in the query. The page answers in the visitor's language, in large plain words: *genuine*
(when it was sent, through which channel, about what kind of event) or *not from the hub* (with what to do
about a phishing message). Never for whom it was nor what it said: a code read out by a stranger discloses
nothing personal. The answer is the one ``POST /v1/notices/verify`` gives (``hub.notify.inbox.verify``), and
the page spends the same per-address budget (``hub.ratelimit.limit_notice_verify``), so it is no way around
the API's limit on guessing codes.

A code arriving in the query (the mailed link) is checked at once. It is not logged: the access log never
writes query strings (``hub.logging``), and the page's links carry no referrer (``Referrer-Policy``).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub import i18n
from hub.deps import SessionDep, StateDep
from hub.notify import codes, inbox
from hub.ratelimit import GuardDep, Throttled, limit_notice_verify
from hub.state import HubState
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)

DOMAINS: Final = ("notices",)
MAX_CODE_LENGTH: Final = 64  # as the API's ``VerifyIn.code``; a longer text is no code
CHANNELS: Final = frozenset({"inbox", "email", "webhook"})
# What a notice was about, in words a stranger may read: the family of its event kind, not the kind itself.
_FAMILIES: Final = (
    ("lookup", "access"),
    ("preview", "access"),
    ("issuance", "document"),
    ("verification", "document"),
    ("revocation", "document"),
    ("consent", "consent"),
    ("mandate", "mandate"),
    ("application", "application"),
)


def kind_family(kind: str) -> str:
    """``notices.kind.<family>``: the kind's family (``consent_revoke`` → ``consent``), else ``other``."""
    return next((family for prefix, family in _FAMILIES if kind.split("_", 1)[0] == prefix), "other")


def _page(request: Request, state: HubState, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        "notice_check.html",
        status_code=status_code,
        domains=DOMAINS,
        account=session.current(request, state),
        **context,
    )


async def _answer(
    request: Request, state: HubState, db: SessionDep, guard: GuardDep, code: str
) -> HTMLResponse:
    """Check ``code`` (rate-limited per address, like the API) and render the verdict."""
    try:
        await limit_notice_verify(request, guard)
    except Throttled as refused:
        lang = language(request)
        page = render(
            request,
            "message.html",
            status_code=429,
            heading=i18n.message(lang, f"{refused.slug}.title"),
            message=i18n.message(lang, f"{refused.slug}.detail", **refused.params),
            account=session.current(request, state),
            receipt=None,
            back="/notices/verify",
        )
        page.headers.update(refused.headers or {})
        return page
    if len(code) > MAX_CODE_LENGTH or codes.normalise(code) is None:
        return _page(request, state, status_code=422, error=True, code=code[:MAX_CODE_LENGTH])
    canonical = codes.normalise(code) or ""
    shown = "-".join(canonical[i : i + 4] for i in range(0, len(canonical), 4))  # as the notice prints it
    found = await inbox.verify(db, code)
    if not found["genuine"]:
        return _page(request, state, verdict="unknown", code=code)
    channel = found["channel"] if found["channel"] in CHANNELS else "other"
    return _page(
        request,
        state,
        verdict="genuine",
        code=code,
        shown_code=shown,
        sent_at=found["sent_at"],
        channel=channel,
        family=kind_family(str(found["kind"])),
    )


@router.get("/notices/verify", response_class=HTMLResponse)
async def notice_check(
    request: Request, state: StateDep, db: SessionDep, guard: GuardDep, code: str | None = None
) -> HTMLResponse:
    """The form; with ``?code=`` (the link in a mailed notice) the answer for that code as well."""
    if code is None or not code.strip():
        return _page(request, state)
    return await _answer(request, state, db, guard, code.strip())


@router.post("/notices/verify", response_class=HTMLResponse)
async def notice_check_submit(
    request: Request, state: StateDep, db: SessionDep, guard: GuardDep
) -> HTMLResponse:
    """The typed code (urlencoded form): the same answer as the mailed link's."""
    form = await request.form()
    typed = form.get("code")
    code = typed.strip() if isinstance(typed, str) else ""
    if not code:
        return _page(request, state, status_code=422, error=True, code="")
    return await _answer(request, state, db, guard, code)
