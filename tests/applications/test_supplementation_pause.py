"""The deadline does not run while the applicant supplements (보완 기간은 처리기간에 산입하지 않는다):
asking for a supplement stops the clock, supplementing moves the due date later by the Korean business
days paused (weekends and public holidays not counted), shown in the API and on the case page."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from asgi_lifespan import LifespanManager

from hub.app import create_app
from hub.applications.business_days import add_business_days
from hub.applications.service import ApplicationService, Move
from hub.auth.tokens import AccountPrincipal
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal
from tests.conftest import Backend, account_bearer
from tests.helpers.pages import open_browsers, sign_in

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # welfare, 30 business days


class Calendar:
    """The service's "today" in Korea, moved by the test."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


def _service(state: HubState, calendar: Calendar) -> ApplicationService:
    current = state.applications
    return ApplicationService(current.forms, current.trail, current.sealer, today=calendar)


async def _move(
    service: ApplicationService, state: HubState, who: AccountPrincipal, case_id: str, move: Move
) -> None:
    async with transaction(state.sessions) as session:
        await service.transition(session, who, case_id, move, "test-pause")


async def _in_review(
    state: HubState, calendar: Calendar, username: str
) -> tuple[ApplicationService, str, date]:
    service = _service(state, calendar)
    resident = await principal(state, username)
    official = await official_in(state, "welfare-pause", "welfare")
    async with transaction(state.sessions) as session:
        row = await service.submit(session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-pause")
    for target in ("assigned", "in_review"):
        await _move(service, state, official, row.application_id, Move(to=target))
    return service, row.application_id, row.due_on


async def test_supplementing_moves_the_deadline_by_the_business_days_paused_across_a_holiday(
    hub_state: HubState, backend: Backend
) -> None:
    calendar = Calendar(date(2026, 12, 21))  # Monday
    service, case_id, due = await _in_review(hub_state, calendar, "resident0")
    assert due == add_business_days(date(2026, 12, 21), 30)
    official = await official_in(hub_state, "welfare-pause", "welfare")
    resident = await principal(hub_state, "resident0")

    calendar.day = date(2026, 12, 23)  # Wednesday: asked for a supplement
    await _move(service, hub_state, official, case_id, Move(to="supplementation_requested", note="통장 사본"))
    async with hub_state.sessions() as session:
        row, _ = await service.case(session, resident, case_id)
    assert (row.due_on, row.paused_on) == (due, date(2026, 12, 23))

    # Monday 28th: Thu 24th counts, Fri 25th (Christmas) and the weekend do not, Mon 28th does: 2 days.
    calendar.day = date(2026, 12, 28)
    await _move(service, hub_state, resident, case_id, Move(to="supplemented", note="첨부했습니다"))
    async with hub_state.sessions() as session:
        row, steps = await service.case(session, resident, case_id)
    assert row.paused_business_days == 2 and row.paused_on is None
    assert row.due_on == add_business_days(due, 2)
    assert steps[-1].to_status == "supplemented" and steps[-1].due_on == row.due_on

    # A second supplement given the same day it was asked for adds nothing.
    await _move(service, hub_state, official, case_id, Move(to="supplementation_requested", note="도장"))
    await _move(service, hub_state, resident, case_id, Move(to="supplemented"))
    async with hub_state.sessions() as session:
        again, _ = await service.case(session, resident, case_id)
    assert (again.due_on, again.paused_business_days) == (row.due_on, 2)


async def test_the_pause_is_shown_by_the_api_and_on_the_case_page(
    hub_state: HubState, backend: Backend
) -> None:
    calendar = Calendar(date(2026, 12, 21))
    service, case_id, due = await _in_review(hub_state, calendar, "resident1")
    official = await official_in(hub_state, "welfare-pause", "welfare")
    resident = await principal(hub_state, "resident1")
    calendar.day = date(2026, 12, 22)
    await _move(service, hub_state, official, case_id, Move(to="supplementation_requested", note="통장 사본"))

    # Not the ``api`` fixture: the case was moved by a service on the test's calendar, read here as stored.
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as api:
            paused = (
                await api.get(
                    f"/v1/me/applications/{case_id}", headers=account_bearer(hub_state, "resident1")
                )
            ).json()
    assert (paused["deadline_paused_since"], paused["paused_business_days"]) == ("2026-12-22", 0)
    assert paused["due_on"] == due.isoformat()

    calendar.day = date(2026, 12, 24)  # Wed 23rd and Thu 24th
    await _move(service, hub_state, resident, case_id, Move(to="supplemented"))
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, "resident1", "resident1-pw")).status_code == 303
        page = await phone.get(f"/me/applications/{case_id}?lang=en")
        api_view = await phone.get(f"/me/applications/{case_id}?lang=ko")
    assert page.status_code == 200
    assert 'data-paused-days="2"' in page.text
    assert "The deadline moved 2 business day(s) later" in page.text
    assert f'data-due="{add_business_days(due, 2).isoformat()}"' in page.text
    assert "보완 기간 2근무일만큼" in api_view.text


async def test_withdrawing_while_paused_leaves_the_deadline(hub_state: HubState, backend: Backend) -> None:
    calendar = Calendar(date(2026, 12, 21))
    service, case_id, due = await _in_review(hub_state, calendar, "resident2")
    official = await official_in(hub_state, "welfare-pause", "welfare")
    resident = await principal(hub_state, "resident2")
    await _move(service, hub_state, official, case_id, Move(to="supplementation_requested", note="통장 사본"))
    calendar.day = date(2027, 1, 8)
    await _move(service, hub_state, resident, case_id, Move(to="withdrawn"))
    async with hub_state.sessions() as session:
        row, _ = await service.case(session, resident, case_id)
    assert (row.due_on, row.paused_on, row.paused_business_days) == (due, None, 0)
