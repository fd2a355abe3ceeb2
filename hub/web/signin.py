"""Signing in and out of the web pages (residents, officials, auditors): a session cookie holding a token.

Sign-in is throttled like the API's (``hub.ratelimit``: per account name and per source address), answered
with the sign-in page itself, status 429 and ``Retry-After``. Sign-out is a POST carrying the session's CSRF
token, and it denies the token server-side, so a copy of the cookie is worthless afterwards.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import i18n
from hub.auth.accounts import authenticate_account
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.ratelimit import GuardDep, Throttled, client_address
from hub.web import session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)


def _safe_next(value: str) -> str:
    # Only local paths: an open redirect after sign-in would help phishing.
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def _form(
    request: Request,
    next: str,
    csrf: str,
    status_code: int = 200,
    failed: bool = False,
    throttled: str | None = None,
) -> HTMLResponse:
    """The sign-in form: first shown, after a wrong password (401), or while throttled (429)."""
    return render(
        request,
        "login.html",
        status_code=status_code,
        next=_safe_next(next),
        csrf=csrf,
        failed=failed,
        throttled=throttled,
        account=None,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    token = session.new_login_csrf()
    response = _form(request, next, token)
    session.set_login_csrf(request, response, token)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    state: StateDep,
    db: SessionDep,
    guard: GuardDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    session.check_login_csrf(request, csrf)
    try:
        async with guard.sign_in.attempt(address=client_address(request), name=username) as attempt:
            account = await authenticate_account(db, username, password)
            if account is not None:
                attempt.succeeded()
    except Throttled as throttled:
        message = i18n.message(language(request), "too-many-attempts.detail", **throttled.params)
        response = _form(request, next, csrf, status_code=429, throttled=message)
        response.headers.update(throttled.headers or {})
        return response
    if account is None:
        return _form(request, next, csrf, status_code=401, failed=True)
    token = state.tokens.issue_account(
        account.account_id, account.role, account.display_name, account.org, account.subject_commitment
    )
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    session.set_session(request, redirect, token, state.tokens.ttl_seconds)
    return redirect


@router.post("/logout")
async def logout(
    request: Request, state: StateDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """Sign out: POST only, with the session's CSRF token, and the token is denied until it would expire.

    SameSite=Lax alone is not enough: a same-site page (or an older browser) could still post here, and
    deleting the cookie alone would leave a copied token valid for the rest of its lifetime. Without a valid
    session there is nothing to sign out, so it simply goes to the sign-in page.
    """
    token = request.cookies.get(session.SESSION_COOKIE)
    if token:
        session.check_csrf(state, request, csrf)
        try:
            state.tokens.revoke(token)
        except Problem:
            pass  # already expired, forged or signed out: nothing left to deny
    response = RedirectResponse("/login", status_code=303)
    session.clear_session(response)
    return response
