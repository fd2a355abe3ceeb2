"""``/``: what the hub is and the way in for each kind of user, in the reader's language.

A public page (no sign-in, nothing personal): the one address the README and a resident's notice can point
to. A signed-in visitor is shown the way to their own start page (a resident's home lists unread notices).
The public check of a notice's code (``/notices/verify``, ``hub.web.notice_page``) is reached from here and
served with these routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.deps import StateDep
from hub.web import notice_page, session
from hub.web.render import render

router = APIRouter(include_in_schema=False)
router.include_router(notice_page.router)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: StateDep) -> HTMLResponse:
    return render(request, "home.html", domains=("home",), account=session.current(request, state))
