"""Placing an official in a department: audited, refused for a non-official or an unknown department."""

from __future__ import annotations

import pytest

from hub.applications.departments import place
from hub.applications.repository import department_of
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import principal
from tests.conftest import Backend, audit_rows

pytestmark = pytest.mark.anyio


async def test_placing_an_official_is_audited_and_checked(hub_state: HubState, backend: Backend) -> None:
    async with transaction(hub_state.sessions) as session:
        account_id = await place(session, hub_state.applications, "official", "food_sanitation")
    async with hub_state.sessions() as session:
        assert await department_of(session, account_id) == "food_sanitation"
    event = audit_rows(backend)[-1]
    assert (event["kind"], event["basis"], event["reason"]) == (
        "official_department_set",
        "department:food_sanitation",
        f"account:{account_id}",
    )
    async with transaction(hub_state.sessions) as session:
        with pytest.raises(LookupError):
            await place(session, hub_state.applications, "resident0", "food_sanitation")
        with pytest.raises(ValueError):
            await place(session, hub_state.applications, "official", "space_agency")
    assert (await principal(hub_state, "official")).role == "official"
