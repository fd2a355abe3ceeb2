"""What the application tests share: principals, officials placed in departments, typical answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.auth.accounts import create_account
from hub.auth.models import AccountRow
from hub.auth.tokens import AccountPrincipal
from hub.state import HubState
from hub.uow import transaction

# Answers for the fields a resident types (the rest come from pre-fill, or are given here when it is off).
TYPED: dict[str, dict[str, Any]] = {
    "basic_pension": {
        "marital_status": "single",
        "bank_name": "농협은행",
        "account_number": "302-1234-5678-91",
        "account_holder": "신청인",
        "phone": "010-1234-5678",
    },
    "moving_in_report": {
        "new_address": "서울특별시 서초구 남부순환로 2584",
        "new_postal_code": "06750",
        "moved_in_on": "2026-11-20",
        "household_status": "new_head",
        "movers_count": 1,
        "phone": "010-1234-5678",
    },
}
PERSONAL = {
    "applicant_name": "홍길동",
    "birth_date": "1950-03-04",
    "address": "서울특별시 서초구",
    "postal_code": "06750",
}


async def principal(state: HubState, username: str) -> AccountPrincipal:
    async with state.sessions() as session:
        row = (await session.execute(select(AccountRow).where(AccountRow.username == username))).scalar_one()
    return AccountPrincipal(row.account_id, row.role, row.display_name, row.org, row.subject_commitment)


async def official_in(state: HubState, username: str, department: str) -> AccountPrincipal:
    """An official account placed in ``department`` (created once per database)."""
    async with transaction(state.sessions) as session:
        exists = (
            await session.execute(select(AccountRow.account_id).where(AccountRow.username == username))
        ).scalar_one_or_none()
        if exists is None:
            await create_account(
                session,
                username=username,
                password=f"{username}-pw",
                role="official",
                display_name=username,
                org=f"{department} office",
            )
    official = await principal(state, username)
    async with transaction(state.sessions) as session:
        await state.applications.set_department(session, official.account_id, department, "test")
    return official


async def proxy_mandate(state: HubState, agent: str, principal_username: str, form_type: str) -> str:
    """A live mandate from ``principal_username`` to ``agent`` covering the form's records (what a proxy's
    seal upload requires), granted as the principal would grant it; its id."""
    from datetime import UTC, datetime, timedelta

    from hub.consents.schemas import MandateIn

    documents = sorted({d for d, _ in state.forms[form_type].prefill_documents()})
    grantor = await principal(state, principal_username)
    body = MandateIn(
        agent_username=agent, document_types=documents, expires_at=datetime.now(UTC) + timedelta(days=30)
    )
    async with transaction(state.sessions) as session:
        mandate = await state.consent.grant_mandate(session, grantor, body, "test-mandate")
    return str(mandate["mandate_id"])
