"""What the dispute and dashboard tests share: privacy officers of an organisation, a disputable entry."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.auth.accounts import create_account
from hub.auth.models import AccountRow
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend, account_bearer, bearer, lookup_body


async def privacy_officer(state: HubState, username: str, org: str) -> dict[str, str]:
    """A bearer for a privacy officer of ``org`` (the account is created once per database)."""
    async with transaction(state.sessions) as session:
        exists = (
            await session.execute(select(AccountRow.account_id).where(AccountRow.username == username))
        ).scalar_one_or_none()
        if exists is None:
            await create_account(
                session,
                username=username,
                password=f"{username}-pw",
                role="privacy_officer",
                display_name=username,
                org=org,
            )
    return account_bearer(state, username)


async def bank_entry(api: httpx.AsyncClient, state: HubState, backend: Backend, resident: int = 0) -> int:
    """The leaf index of a fresh lookup of ``resident``'s abstract by Test Bank, once a checkpoint has it."""
    number = backend.residents[resident]["resident_number"]
    looked = await api.post("/v1/lookups", headers=bearer(state), json=lookup_body(number))
    assert looked.status_code == 200, looked.text
    event_id = looked.json()["audit"]["event_id"]
    await state.integrator.integrate_once()
    log = await api.get(
        "/v1/me/access-log", params={"limit": 50}, headers=account_bearer(state, f"resident{resident}")
    )
    entry = next(e for e in log.json()["entries"] if e["event_id"] == event_id)
    assert entry["actor"]["org"] == "Test Bank" and entry["inclusion_proof"] is not None
    return int(entry["leaf_index"])
