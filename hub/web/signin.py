"""Signing in and out of the web pages (residents, officials, auditors): a session cookie holding a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.auth.accounts import authenticate_account
from hub.deps import SessionDep, StateDep
from hub.web import session
from hub.web.render import render

router = APIRouter(include_in_schema=False)


def _safe_next(value: str) -> str:
    # Only local paths: an open redirect after sign-in would help phishing.
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    token = session.new_login_csrf()
    response = render(request, "login.html", next=_safe_next(next), csrf=token, failed=False, account=None)
    session.set_login_csrf(request, response, token)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    state: StateDep,
    db: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    session.check_login_csrf(request, csrf)
    account = await authenticate_account(db, username, password)
    if account is None:
        response = render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(next),
            csrf=csrf,
            failed=True,
            account=None,
        )
        return response
    token = state.tokens.issue_account(
        account.account_id, account.role, account.display_name, account.org, account.subject_commitment
    )
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    session.set_session(request, redirect, token, state.tokens.ttl_seconds)
    return redirect


@router.post("/logout")
async def logout() -> Response:
    """Sign out. No CSRF token needed: the session cookie is SameSite=Lax, so no other site can post here."""
    response = RedirectResponse("/login", status_code=303)
    session.clear_session(response)
    return response
