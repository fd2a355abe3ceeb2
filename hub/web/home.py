"""``/``: what the hub is and the way in for each kind of user, in the reader's language.

A public page: the one address the README and a resident's notice can point to. A signed-in visitor is shown
the way to their own start page, and a signed-in resident also sees their newest unread notices there (the
full list is on ``/me``), so a resident who opens the hub's address lands on what is new for them. The public
check of a notice's code (``/notices/verify``, ``hub.web.notice_page``) is reached from here and served with
these routes.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.deps import SessionDep, StateDep
from hub.notify import inbox
from hub.state import HubState
from hub.web import notice_page, session
from hub.web.render import language, render

router = APIRouter(include_in_schema=False)
router.include_router(notice_page.router)

UNREAD_SHOWN: Final = 3


def _titles(state: HubState, lang: str) -> Any:
    def title(document_type: str | None) -> str:
        spec = state.catalog.get(document_type or "")
        return spec.titles.get(lang, spec.type) if spec is not None else (document_type or "")

    return title


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: StateDep, db: SessionDep) -> HTMLResponse:
    account = session.current(request, state)
    notices: list[dict[str, Any]] = []
    unread = 0
    if account is not None and account.role == "resident" and account.subject_commitment:
        lang = language(request)
        found = await inbox.page(db, account.subject_commitment, limit=UNREAD_SHOWN, unread_only=True)
        title = _titles(state, lang)
        notices = [inbox.as_json(row, lang, state.keys.data_key, title) for row in found.items]
        unread = found.unread
    return render(
        request,
        "home.html",
        domains=("home", "notify"),
        account=account,
        notices=notices,
        unread=unread,
    )
