"""``/``: what the hub is and the way in for each kind of user, in the reader's language.

A public page (no sign-in, nothing personal): the one address the README and a resident's notice can point
to. A signed-in visitor is shown the way to their own start page (a resident's home lists unread notices).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.deps import StateDep
from hub.web import session
from hub.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: StateDep) -> HTMLResponse:
    return render(request, "home.html", domains=("home",), account=session.current(request, state))


@router.get("/notices/verify")
async def notice_check_link() -> RedirectResponse:
    """Where an e-mailed notice's link points (``/notices/verify?code=...``): the front page for now.

    A mail is sent once and kept for years, so its link is the stable address of the public notice check;
    until that page exists it leads to the front page, which explains how the hub confirms its codes
    (``POST /v1/notices/verify``), rather than to a 404 that would look like phishing.
    """
    return RedirectResponse("/", status_code=303)
