"""Cookie sessions and CSRF tokens for the pages.

The session cookie carries the same short-lived account token the API accepts (HttpOnly, SameSite=Lax, Secure
except on plain localhost). Every form carries a CSRF token bound to that session (HMAC under a key in
KEY_DIR), so a cross-site form post cannot act for a signed-in resident. The signed-in principal carries that
token (``AccountPrincipal.csrf``) for the page layout's sign-out form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.state import HubState

SESSION_COOKIE = "gy_session"
LOGIN_CSRF_COOKIE = "gy_login_csrf"


def _secure(request: Request) -> bool:
    """Always in production (whatever host a proxy forwards); elsewhere except on plain-http localhost."""
    running = getattr(request.app.state, "hub", None)
    if running is not None and running.settings.is_production:
        return True
    return request.url.hostname not in {"127.0.0.1", "localhost", "hub.test"} or request.url.scheme == "https"


def set_session(request: Request, response: Response, token: str, ttl: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def current(request: Request, state: HubState) -> AccountPrincipal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        account = state.tokens.verify_account(token)
    except Problem:
        return None
    return replace(account, csrf=csrf_token(state, request))


def csrf_token(state: HubState, request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(state.keys.data_key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def check_csrf(state: HubState, request: Request, submitted: str) -> None:
    if not request.cookies.get(SESSION_COOKIE) or not hmac.compare_digest(
        csrf_token(state, request), submitted
    ):
        raise Problem(403, "csrf-failed")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=1800,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def check_login_csrf(request: Request, submitted: str) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, submitted):
        raise Problem(403, "csrf-failed")


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back to this page (path and query) afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def resident(request: Request, state: HubState) -> AccountPrincipal | None:
    """The signed-in resident (with a registered resident number), or None."""
    account = current(request, state)
    if account is None or account.role != "resident" or not account.subject_commitment:
        return None
    return account


def official(request: Request, state: HubState) -> AccountPrincipal | None:
    account = current(request, state)
    return account if account is not None and account.role == "official" else None
