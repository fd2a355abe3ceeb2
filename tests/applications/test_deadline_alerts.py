"""Deadline alerts to the assigned official: two business days before (KR holidays skipped), on the day and
overdue, each stage once, however often and however many sweeps run; none for a closed or unassigned case,
nor while the applicant is asked to supplement (the clock is stopped); each an audit event whose notice
reaches the official's inbox (and e-mail row), never a resident's."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from hub.applications import deadline_sweep
from hub.applications.models import ApplicationRow
from hub.auth.models import AccountRow
from hub.auth.tokens import AccountPrincipal
from hub.notify.dispatch import Dispatcher
from hub.notify.models import OutboxRow
from hub.notify.outbox import STAFF_KINDS, staff_routed
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal
from tests.applications.test_case_lifecycle import move_to
from tests.conftest import Backend, audit_rows

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # handled by "welfare"
# Seollal 2026 is Mon 16 - Wed 18 February: a case due Thursday 19 February has its "two business days
# before" on Thursday 12 (13, then 19), not on Tuesday 17 as calendar days would say.
DUE = date(2026, 2, 19)


def at(day: date, hour_utc: int = 1) -> datetime:
    """A moment of ``day`` in Korea (01:00 UTC is 10:00 KST)."""
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)


async def assigned_case(
    state: HubState, official: AccountPrincipal, due: date, *, then: str | None = None
) -> str:
    """A fresh basic-pension case assigned to ``official``, due on ``due`` (then moved to ``then``)."""
    resident = await principal(state, "resident0")
    async with transaction(state.sessions) as session:
        row = await state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-deadline"
        )
        case_id = row.application_id
    async with transaction(state.sessions) as session:
        await state.applications.transition(session, official, case_id, move_to("assigned"), "test")
    if then == "completed":
        for target in ("in_review", "completed"):
            async with transaction(state.sessions) as session:
                await state.applications.transition(session, official, case_id, move_to(target), "test")
    elif then == "supplementation_requested":
        for target in ("in_review", "supplementation_requested"):
            async with transaction(state.sessions) as session:
                await state.applications.transition(session, official, case_id, move_to(target), "test")
    elif then == "withdrawn":
        async with transaction(state.sessions) as session:
            await state.applications.transition(session, resident, case_id, move_to("withdrawn"), "test")
    async with transaction(state.sessions) as session:
        await session.execute(
            update(ApplicationRow).where(ApplicationRow.application_id == case_id).values(due_on=due)
        )
    return case_id


def alerts_of(backend: Backend, case_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in audit_rows(backend)
        if r["reason"] == f"application:{case_id}" and r["kind"] in deadline_sweep.KINDS.values()
    ]


async def sweep_on(state: HubState, day: date) -> int:
    return await deadline_sweep.sweep(state.sessions, state.trail, now=lambda: at(day))


async def deliver(state: HubState) -> None:
    dispatcher = Dispatcher(state.sessions, state.keys.data_key)
    while await dispatcher.run_once():
        pass


def test_the_stage_counts_business_days_and_skips_the_korean_holidays() -> None:
    stage = deadline_sweep.stage_of
    assert stage(DUE, date(2026, 2, 11)) is None  # 12, 13, 19: three business days left
    assert stage(DUE, date(2026, 2, 12)) == "due_soon"  # 13, 19
    assert stage(DUE, date(2026, 2, 16)) == "due_soon"  # a holiday: still within two
    assert stage(DUE, DUE) == "due_today"
    assert stage(DUE, date(2026, 2, 20)) == "overdue"
    # Without the holidays Tuesday 17 would be two business days before; it is one (Thursday 19 only).
    assert stage(DUE, date(2026, 2, 10)) is None


def test_every_staff_kind_has_a_route() -> None:
    import hub.app  # noqa: F401 - the app's modules register their routes on import

    assert staff_routed() == STAFF_KINDS


async def test_each_stage_alerts_the_assigned_official_once_across_seollal(
    hub_state: HubState, backend: Backend
) -> None:
    official = await official_in(hub_state, "deadline-official", "welfare")
    async with transaction(hub_state.sessions) as session:  # with an address: an e-mail row as well
        await session.execute(
            update(AccountRow)
            .where(AccountRow.account_id == official.account_id)
            .values(email="deadline-official@gov.example")
        )
    case_id = await assigned_case(hub_state, official, DUE)

    await sweep_on(hub_state, date(2026, 2, 11))
    assert alerts_of(backend, case_id) == []
    for day in (date(2026, 2, 12), date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 16)):
        await sweep_on(hub_state, day)  # the same stage again, on the day and after it: nothing new
    assert [a["kind"] for a in alerts_of(backend, case_id)] == ["case_due_soon"]
    for day in (DUE, DUE, date(2026, 2, 20), date(2026, 2, 23), date(2026, 2, 23)):
        await sweep_on(hub_state, day)
    alerts = alerts_of(backend, case_id)
    assert [a["kind"] for a in alerts] == ["case_due_soon", "case_due_today", "case_overdue"]
    assert all(a["actor_id"] == "deadline-sweep" and a["subject_commitment"] is None for a in alerts)
    assert alerts[0]["event_id"] == deadline_sweep.event_id_for(case_id, "due_soon", DUE)

    async with hub_state.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxRow).where(OutboxRow.event_id.in_([a["event_id"] for a in alerts]))
            )
        ).scalars()
        written = sorted((r.kind, r.channel, r.account_id, r.subject_commitment) for r in rows)
    assert written == sorted(
        (kind, channel, official.account_id, None)
        for kind in ("case_due_soon", "case_due_today", "case_overdue")
        for channel in ("inbox", "email")
    )


async def test_a_moved_due_date_earns_its_own_alerts(hub_state: HubState, backend: Backend) -> None:
    official = await official_in(hub_state, "deadline-official", "welfare")
    case_id = await assigned_case(hub_state, official, date(2026, 3, 6))
    await sweep_on(hub_state, date(2026, 3, 5))
    assert [a["kind"] for a in alerts_of(backend, case_id)] == ["case_due_soon"]
    # Extended (or paused for supplementation): the sweep reads the new date off the case row.
    async with transaction(hub_state.sessions) as session:
        await session.execute(
            update(ApplicationRow)
            .where(ApplicationRow.application_id == case_id)
            .values(due_on=date(2026, 3, 20))
        )
    await sweep_on(hub_state, date(2026, 3, 6))
    assert [a["kind"] for a in alerts_of(backend, case_id)] == ["case_due_soon"]
    await sweep_on(hub_state, date(2026, 3, 19))
    assert [a["kind"] for a in alerts_of(backend, case_id)] == ["case_due_soon", "case_due_soon"]


@pytest.mark.parametrize("then", ["completed", "withdrawn", "unassigned", "supplementation_requested"])
async def test_no_alert_for_a_closed_unassigned_or_paused_case(
    hub_state: HubState, backend: Backend, then: str
) -> None:
    official = await official_in(hub_state, "deadline-official", "welfare")
    case_id = await assigned_case(
        hub_state, official, date(2026, 4, 1), then=None if then == "unassigned" else then
    )
    if then == "unassigned":
        async with transaction(hub_state.sessions) as session:
            await session.execute(
                update(ApplicationRow)
                .where(ApplicationRow.application_id == case_id)
                .values(assignee_account_id=None, status="received")
            )
    for day in (date(2026, 3, 30), date(2026, 4, 1), date(2026, 4, 2)):
        await sweep_on(hub_state, day)
    assert alerts_of(backend, case_id) == []


@pytest.mark.postgres
async def test_concurrent_sweeps_record_one_alert_per_stage(postgres_backend: Backend) -> None:
    from hub.state import build_state

    state = build_state(postgres_backend.settings)
    try:
        official = await official_in(state, "deadline-official", "welfare")
        cases = [await assigned_case(state, official, date(2026, 5, 13)) for _ in range(3)]
        for day in (date(2026, 5, 11), date(2026, 5, 13), date(2026, 5, 14)):
            counts = await asyncio.gather(*(sweep_on(state, day) for _ in range(4)))
            assert sum(counts) >= len(cases)  # every case alerted by one sweep or another
        for case_id in cases:
            kinds = [a["kind"] for a in alerts_of(postgres_backend, case_id)]
            assert kinds == ["case_due_soon", "case_due_today", "case_overdue"]
    finally:
        await state.close()


async def test_the_official_reads_the_alert_in_the_api_and_on_the_pages(
    api: Any, hub_state: HubState, backend: Backend
) -> None:
    from tests.conftest import account_bearer

    official = await official_in(hub_state, "deadline-reader", "welfare")
    case_id = await assigned_case(hub_state, official, DUE)
    await sweep_on(hub_state, date(2026, 2, 12))
    await deliver(hub_state)
    headers = {**account_bearer(hub_state, "deadline-reader"), "Accept-Language": "en"}
    listed = await api.get("/v1/staff/notifications", headers=headers)
    assert listed.status_code == 200, listed.text
    mine = [n for n in listed.json()["items"] if n.get("application_id") == case_id]
    assert [n["kind"] for n in mine] == ["case_due_soon"]
    assert "2026-02-19" in mine[0]["text"] and mine[0]["case_number"] in mine[0]["text"]
    assert listed.json()["unread"] >= 1

    cookie = headers["Authorization"].removeprefix("Bearer ")
    from hub.web.session import SESSION_COOKIE

    api.cookies.set(SESSION_COOKIE, cookie)
    try:
        page = await api.get("/staff/notices", headers={"Accept-Language": "ko"})
        assert page.status_code == 200, page.text
        assert f'href="/cases/{case_id}"' in page.text and "근무일 기준 2일" in page.text
        queue = await api.get("/cases")
        assert 'href="/staff/notices"' in queue.text and "data-staff-unread=" in queue.text
    finally:
        api.cookies.clear()


async def test_a_moving_in_report_assigned_the_day_it_arrives_is_alerted_at_once(
    hub_state: HubState, backend: Backend
) -> None:
    """What the README's counter tour shows: the form is due one business day after it is received, so the
    sweep after its assignment alerts the official (due soon), with no date moved by hand."""
    form = "moving_in_report"
    official = await official_in(hub_state, "tour-registration", hub_state.forms[form].department)
    resident = await principal(hub_state, "resident0")
    answers = {**TYPED[form], "applicant_name": "홍길동", "birth_date": "1950-03-04"}
    answers |= {"previous_address": "서울특별시 강남구", "previous_postal_code": "06236"}
    async with transaction(hub_state.sessions) as session:
        row = await hub_state.applications.submit(session, resident, form, answers, "tour-deadline")
        case_id, received = row.application_id, row.submitted_at
    async with transaction(hub_state.sessions) as session:
        await hub_state.applications.transition(session, official, case_id, move_to("assigned"), "test")
    await deadline_sweep.sweep(hub_state.sessions, hub_state.trail, now=lambda: received)
    assert [a["kind"] for a in alerts_of(backend, case_id)] == ["case_due_soon"]
