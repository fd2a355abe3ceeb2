"""The department dashboard page (and its CSV download) for the officials of that department.

The same figures as ``GET /v1/departments/{department}/dashboard`` (``hub.applications.dashboard``): per form
the counts by state, due soon, overdue, median processing time, supplementation rate and satisfaction, and
today's counter form sessions with their waiting times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.applications import dashboard, lifecycle
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.state import HubState
from hub.web import session
from hub.web.disputes import duration_text
from hub.web.render import language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)
DOMAINS: Final = ("disputes", "applications")


async def _board(
    request: Request, state: HubState, db: SessionDep, department: str
) -> tuple[AccountPrincipal, dashboard.Dashboard] | Response:
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    forms = dashboard.departments(state.forms).get(department[:64])
    if forms is None or await dashboard.department_of(db, official.account_id) != department:
        strings = Strings(language(request), ("pages", "common", *DOMAINS))
        return render(
            request,
            "message.html",
            status_code=404,
            domains=DOMAINS,
            heading=strings["dash.title"],
            message=strings["dash.no_department"],
            account=official,
            receipt=None,
            back="/cases",
        )
    return official, await dashboard.build(db, department, forms, datetime.now(UTC))


@router.get("/dashboard", response_class=HTMLResponse)
async def my_dashboard(request: Request, state: StateDep, db: SessionDep) -> Response:
    """The signed-in official's own department's dashboard."""
    official = session.official(request, state)
    if official is None:
        return session.login_redirect(request)
    department = await dashboard.department_of(db, official.account_id)
    return RedirectResponse(f"/departments/{department or 'none'}/dashboard", status_code=303)


@router.get("/departments/{department}/dashboard", response_class=HTMLResponse)
async def dashboard_page(department: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    found = await _board(request, state, db, department)
    if isinstance(found, Response):
        return found
    official, board = found
    lang = language(request)
    forms = dashboard.departments(state.forms)[department]
    return render(
        request,
        "dashboard.html",
        domains=DOMAINS,
        account=official,
        board=board,
        data=board.as_json(),
        department_title=forms[0].department_titles.get(lang, department),
        titles={f.type: f.titles.get(lang, f.type) for f in state.forms.values()},
        states=lifecycle.STATES,
        duration=lambda seconds: duration_text(seconds, lang),
    )


@router.get("/departments/{department}/dashboard.csv")
async def dashboard_csv(department: str, request: Request, state: StateDep, db: SessionDep) -> Response:
    found = await _board(request, state, db, department)
    if isinstance(found, Response):
        return found
    _, board = found
    name = f"dashboard-{department}-{board.today.isoformat()}.csv"
    return Response(
        board.as_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
