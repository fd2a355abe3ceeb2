"""A department's dashboard as JSON and as CSV, for the officials of that department.

A department is one the form specs name; an official sees their own department's only. Another department's,
or one that does not exist, is answered alike (404 ``department-not-found``), so the route does not tell an
official which departments have cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub.applications import dashboard
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState

router = APIRouter(tags=["cases"])
Department = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


async def _dashboard(
    department: str, account: AccountPrincipal, state: HubState, db: AsyncSession
) -> dashboard.Dashboard:
    if account.role != "official":
        raise Problem(403, "role-required", role="official")
    forms = dashboard.departments(state.forms).get(department)
    if forms is None or await dashboard.department_of(db, account.account_id) != department:
        raise Problem(404, "department-not-found")
    return await dashboard.build(db, department, forms, datetime.now(UTC))


@router.get("/v1/departments/{department}/dashboard")
async def department_dashboard(
    department: Department, account: AccountDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    """Per form: counts by state, due soon, overdue, median processing time, supplementation rate,
    satisfaction average; and today's counter form sessions with their waiting times."""
    return (await _dashboard(department, account, state, db)).as_json()


@router.get("/v1/departments/{department}/dashboard.csv")
async def department_dashboard_csv(
    department: Department, account: AccountDep, state: StateDep, db: SessionDep
) -> Response:
    """The per-form table of the dashboard (and the department's total row) as CSV."""
    board = await _dashboard(department, account, state, db)
    name = f"dashboard-{department}-{board.today.isoformat()}.csv"
    return Response(
        board.as_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
