"""``/me/notices/preferences``: the resident chooses e-mail per group of notices, quiet hours and a digest.

The page's form and ``PUT /v1/me/notification-preferences`` build the same ``PreferencesIn`` and call the
same ``hub.notify.preferences.save`` in the request's transaction, so a change made here is recorded and
announced (e-mail included, whatever the choice) exactly like one made through the API. CSRF as on every
portal form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import i18n
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.notify import preferences
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)
PATH = "/me/notices/preferences"
DOMAINS = ("portal", "notify")


def _page(
    request: Request,
    account: AccountPrincipal,
    csrf: str,
    chosen: preferences.Preferences,
    *,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "notice_preferences.html",
        status_code=status_code,
        domains=DOMAINS,
        account=account,
        csrf=csrf,
        prefs=chosen.as_json(),
        groups=preferences.GROUPS,
        notice=notice,
        error=error,
    )


@router.get(PATH, response_class=HTMLResponse)
async def preferences_page(
    request: Request, state: StateDep, db: SessionDep, saved: bool = False
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    lang = language(request)
    notice = i18n.gettext(lang, "notify", "notify.prefs.saved") if saved else None
    chosen = await preferences.load(db, account.account_id)
    return _page(request, account, session.csrf_token(state, request), chosen, notice=notice)


@router.post(PATH, response_class=HTMLResponse)
async def save_preferences(
    request: Request,
    state: StateDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)],
    email: Annotated[list[str] | None, Form()] = None,
    quiet: Annotated[str, Form(max_length=8)] = "",
    quiet_start: Annotated[str, Form(max_length=8)] = "",
    quiet_end: Annotated[str, Form(max_length=8)] = "",
    digest_hour: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    account = session.resident(request, state)
    if account is None:
        return session.login_redirect(request)
    session.check_csrf(state, request, csrf)
    assert account.subject_commitment is not None
    on = set(email or ())
    try:
        if not on <= set(preferences.GROUPS) or not (digest_hour == "" or digest_hour.isdigit()):
            raise ValueError("not a choice the form offers")
        body = preferences.PreferencesIn.model_validate(
            {
                "email": {group: group in on for group in preferences.GROUPS},
                "quiet_hours": {"start": quiet_start, "end": quiet_end} if quiet else None,
                "digest_hour": int(digest_hour) if digest_hour else None,
            }
        )
    except ValueError:  # pydantic's ValidationError is a ValueError too
        # Nothing saved: the page again, with what the resident had saved before and the reason.
        lang = language(request)
        chosen = await preferences.load(db, account.account_id)
        error = i18n.gettext(lang, "notify", "notify.prefs.invalid")
        return _page(request, account, csrf, chosen, status_code=422, error=error)
    await preferences.save(
        db,
        state.trail,
        account.account_id,
        account.subject_commitment,
        body.as_preferences(),
        request.state.request_id,
    )
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)
