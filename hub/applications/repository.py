"""All SQL on the applications tables, in the caller's session."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.applications.models import (
    ApplicationRow,
    DraftRow,
    FormSessionRow,
    OfficialDepartmentRow,
    StepRow,
)


async def department_of(session: AsyncSession, account_id: str) -> str | None:
    row = await session.get(OfficialDepartmentRow, account_id)
    return row.department if row is not None else None


async def set_department(session: AsyncSession, account_id: str, department: str, now: datetime) -> None:
    row = await session.get(OfficialDepartmentRow, account_id)
    if row is None:
        session.add(OfficialDepartmentRow(account_id=account_id, department=department, created_at=now))
    else:
        row.department = department
    await session.flush()


async def application(
    session: AsyncSession, application_id: str, *, lock: bool = False
) -> ApplicationRow | None:
    query = select(ApplicationRow).where(ApplicationRow.application_id == application_id)
    if lock:
        query = query.with_for_update()  # two officials moving one case: the second sees the first's state
    return (await session.execute(query)).scalar_one_or_none()


async def steps(session: AsyncSession, application_id: str) -> list[StepRow]:
    found = await session.execute(
        select(StepRow).where(StepRow.application_id == application_id).order_by(StepRow.seq)
    )
    return list(found.scalars())


async def of_applicant(session: AsyncSession, account_id: str) -> list[ApplicationRow]:
    found = await session.execute(
        select(ApplicationRow)
        .where(ApplicationRow.applicant_account_id == account_id)
        .order_by(ApplicationRow.submitted_at.desc())
    )
    return list(found.scalars())


async def queue(
    session: AsyncSession,
    department: str,
    *,
    status: str | None = None,
    form_type: str | None = None,
    due_by: date | None = None,
    limit: int = 200,
) -> list[ApplicationRow]:
    """A department's cases, the most urgent first (earliest due date)."""
    query = select(ApplicationRow).where(ApplicationRow.department == department)
    if status is not None:
        query = query.where(ApplicationRow.status == status)
    if form_type is not None:
        query = query.where(ApplicationRow.form_type == form_type)
    if due_by is not None:
        query = query.where(ApplicationRow.due_on <= due_by)
    query = query.order_by(ApplicationRow.due_on, ApplicationRow.submitted_at).limit(limit)
    return list((await session.execute(query)).scalars())


async def draft(session: AsyncSession, account_id: str, form_type: str) -> DraftRow | None:
    found = await session.execute(
        select(DraftRow).where(DraftRow.account_id == account_id, DraftRow.form_type == form_type)
    )
    return found.scalars().first()


async def drafts_of(session: AsyncSession, account_id: str) -> list[DraftRow]:
    found = await session.execute(
        select(DraftRow).where(DraftRow.account_id == account_id).order_by(DraftRow.updated_at.desc())
    )
    return list(found.scalars())


async def drop_draft(session: AsyncSession, account_id: str, form_type: str) -> None:
    await session.execute(
        delete(DraftRow).where(DraftRow.account_id == account_id, DraftRow.form_type == form_type)
    )


async def form_session(
    session: AsyncSession, session_id: str, *, lock: bool = False
) -> FormSessionRow | None:
    query = select(FormSessionRow).where(FormSessionRow.session_id == session_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def form_sessions_by(session: AsyncSession, account_id: str, since: datetime) -> list[FormSessionRow]:
    found = await session.execute(
        select(FormSessionRow)
        .where(FormSessionRow.official_account_id == account_id, FormSessionRow.created_at >= since)
        .order_by(FormSessionRow.created_at.desc())
    )
    return list(found.scalars())


def as_dict(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
