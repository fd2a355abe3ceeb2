"""Every move of a case, allowed and forbidden, by role; each allowed move audited and notified in one go."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.applications import lifecycle
from hub.applications.models import ApplicationRow
from hub.applications.service import ApplicationService, Move
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.notify.models import OutboxRow
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # handled by "welfare"
# How to bring a fresh case to each state, one move at a time.
PATHS: dict[str, list[str]] = {
    "received": [],
    "assigned": ["assigned"],
    "in_review": ["assigned", "in_review"],
    "supplementation_requested": ["assigned", "in_review", "supplementation_requested"],
    "supplemented": ["assigned", "in_review", "supplementation_requested", "supplemented"],
    "extended": ["assigned", "in_review", "extended"],
    "completed": ["assigned", "in_review", "completed"],
    "withdrawn": ["withdrawn"],
}


def move_to(target: str, row: ApplicationRow | None = None) -> Move:
    """A complete request for ``target``: what decides the answer is the arrow and the role."""
    due = (row.due_on if row is not None else date(2030, 1, 1)) + timedelta(days=10)
    return Move(to=target, note="사유를 적습니다", outcome="approved", due_on=due)


async def new_case(state: HubState, resident: AccountPrincipal) -> str:
    async with transaction(state.sessions) as session:
        row = await state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-lifecycle"
        )
        return row.application_id


async def act(state: HubState, who: AccountPrincipal, case_id: str, target: str) -> ApplicationRow:
    async with transaction(state.sessions) as session:
        current = await state.applications.case(session, who, case_id) if who.role == "resident" else None
        row = current[0] if current else None
        return await state.applications.transition(session, who, case_id, move_to(target, row), "test")


async def case_in(
    state: HubState, status: str, resident: AccountPrincipal, official: AccountPrincipal
) -> str:
    case_id = await new_case(state, resident)
    for target in PATHS[status]:
        who = (
            resident
            if lifecycle.allowed_role((await _status(state, case_id)), target) == "resident"
            else official
        )
        await act(state, who, case_id, target)
    assert await _status(state, case_id) == status
    return case_id


async def _status(state: HubState, case_id: str) -> str:
    async with state.sessions() as session:
        row = await session.get(ApplicationRow, case_id)
        assert row is not None
        return row.status


@pytest.fixture
async def people(hub_state: HubState) -> dict[str, AccountPrincipal]:
    return {
        "resident": await principal(hub_state, "resident0"),
        "official": await official_in(hub_state, "welfare-official", "welfare"),
    }


@pytest.mark.parametrize("current", lifecycle.STATES)
async def test_every_move_from_a_state_is_allowed_exactly_for_its_role(
    hub_state: HubState, people: dict[str, AccountPrincipal], current: str
) -> None:
    resident, official = people["resident"], people["official"]
    case_id = await case_in(hub_state, current, resident, official)
    for target in lifecycle.STATES:
        for role, who in (("resident", resident), ("official", official)):
            allowed = lifecycle.allowed_role(current, target)
            if allowed == role:
                continue
            with pytest.raises(Problem) as refused:
                await act(hub_state, who, case_id, target)
            expected = (409, "case-transition") if allowed is None else (403, "case-forbidden")
            assert (refused.value.status, refused.value.slug) == expected, (current, target, role)
            assert await _status(hub_state, case_id) == current  # nothing changed
    for target in lifecycle.next_states(current, "official") + lifecycle.next_states(current, "resident"):
        fresh = await case_in(hub_state, current, resident, official)
        role = lifecycle.allowed_role(current, target)
        row = await act(hub_state, resident if role == "resident" else official, fresh, target)
        assert row.status == target


async def test_each_step_is_one_audit_event_and_one_notice_for_the_applicant(
    hub_state: HubState, backend: Backend, people: dict[str, AccountPrincipal]
) -> None:
    resident, official = people["resident"], people["official"]
    case_id = await case_in(hub_state, "completed", resident, official)
    rows = [r for r in audit_rows(backend) if r["reason"] == f"application:{case_id}"]
    assert [r["kind"] for r in rows] == [
        "case_received",
        "case_assigned",
        "case_in_review",
        "case_approved",
    ]
    assert {r["subject_commitment"] for r in rows} == {resident.subject_commitment}
    assert [r["actor_kind"] for r in rows] == ["resident", "official", "official", "official"]
    async with hub_state.sessions() as session:
        notices = (
            await session.execute(
                select(OutboxRow.kind, func.count())
                .where(
                    OutboxRow.event_id.in_([str(r["event_id"]) for r in rows]), OutboxRow.channel == "inbox"
                )
                .group_by(OutboxRow.kind)
            )
        ).all()
    assert dict(notices) == {
        k: 1 for k in ("case_received", "case_assigned", "case_in_review", "case_approved")
    }
    async with hub_state.sessions() as session:
        _, steps = await hub_state.applications.case(session, resident, case_id)
    assert [s.to_status for s in steps] == ["received", "assigned", "in_review", "completed:approved"]
    assert [s.audit_event_id for s in steps] == [r["event_id"] for r in rows]


async def test_only_the_handling_department_moves_a_case(
    hub_state: HubState, people: dict[str, AccountPrincipal]
) -> None:
    case_id = await new_case(hub_state, people["resident"])
    elsewhere = await official_in(hub_state, "food-official", "food_sanitation")
    with pytest.raises(Problem) as refused:
        await act(hub_state, elsewhere, case_id, "assigned")
    assert (refused.value.status, refused.value.slug) == (403, "case-forbidden")
    other_resident = await principal(hub_state, "resident1")
    with pytest.raises(Problem) as hidden:
        await act(hub_state, other_resident, case_id, "withdrawn")
    assert (hidden.value.status, hidden.value.slug) == (404, "application-not-found")
    assert await _status(hub_state, case_id) == "received"


async def test_cases_api_refusals_are_problems(
    api: httpx.AsyncClient, hub_state: HubState, people: dict[str, AccountPrincipal]
) -> None:
    case_id = await case_in(hub_state, "in_review", people["resident"], people["official"])
    official = account_bearer(hub_state, "welfare-official")
    url = f"/v1/cases/{case_id}/transitions"
    assert_problem(
        await api.post(url, json={"to": "extended", "note": "검토 지연"}, headers=official),
        422,
        "extension-incomplete",
    )
    assert_problem(
        await api.post(
            url, json={"to": "extended", "note": "검토 지연", "due_on": "2020-01-01"}, headers=official
        ),
        422,
        "extension-incomplete",
    )
    assert_problem(
        await api.post(url, json={"to": "extended", "due_on": "2099-01-01"}, headers=official),
        422,
        "note-required",
    )
    assert_problem(await api.post(url, json={"to": "completed"}, headers=official), 422, "outcome-required")
    assert_problem(await api.post(url, json={"to": "assigned"}, headers=official), 409, "case-transition")
    assert_problem(await api.post(url, json={"to": "withdrawn"}, headers=official), 403, "case-forbidden")
    assert_problem(await api.post(url, json={"to": "sideways"}, headers=official), 422, "validation-error")
    resident = account_bearer(hub_state, "resident0")
    assert_problem(
        await api.post(url, json={"to": "completed", "outcome": "approved"}, headers=resident),
        403,
        "role-required",
    )
    assert_problem(await api.get("/v1/cases", headers=resident), 403, "role-required")
    extended = await api.post(
        url, json={"to": "extended", "note": "현장 확인 필요", "due_on": "2099-01-01"}, headers=official
    )
    assert extended.status_code == 200, extended.text
    body: dict[str, Any] = extended.json()
    assert body["status"] == "extended" and body["due_on"] == "2099-01-01"
    assert body["history"][-1]["note"] == "현장 확인 필요"
    queue = (await api.get("/v1/cases", params={"state": "extended", "form": FORM}, headers=official)).json()
    assert queue["department"] == "welfare"
    assert case_id in {c["application_id"] for c in queue["cases"]}
    assert all(c["status"] == "extended" for c in queue["cases"])


async def test_satisfaction_is_asked_once_after_completion(
    api: httpx.AsyncClient, hub_state: HubState, people: dict[str, AccountPrincipal]
) -> None:
    resident = account_bearer(hub_state, "resident0")
    open_case = await case_in(hub_state, "in_review", people["resident"], people["official"])
    early = await api.post(f"/v1/me/applications/{open_case}/rating", json={"rating": 5}, headers=resident)
    assert_problem(early, 409, "rating-not-open")
    done = await case_in(hub_state, "completed", people["resident"], people["official"])
    before = (await api.get(f"/v1/me/applications/{done}", headers=resident)).json()
    assert before["survey_open"] is True
    rated = await api.post(
        f"/v1/me/applications/{done}/rating", json={"rating": 4, "comment": "빨랐어요"}, headers=resident
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"]["rating"] == 4 and rated.json()["survey_open"] is False
    again = await api.post(f"/v1/me/applications/{done}/rating", json={"rating": 1}, headers=resident)
    assert_problem(again, 409, "rating-already-given")
    out_of_range = await api.post(f"/v1/me/applications/{done}/rating", json={"rating": 6}, headers=resident)
    assert_problem(out_of_range, 422, "validation-error")


async def test_the_applicant_supplements_with_new_answers(
    api: httpx.AsyncClient, hub_state: HubState, people: dict[str, AccountPrincipal]
) -> None:
    case_id = await case_in(hub_state, "supplementation_requested", people["resident"], people["official"])
    resident = account_bearer(hub_state, "resident0")
    bad = await api.post(
        f"/v1/me/applications/{case_id}/transitions",
        json={"to": "supplemented", "answers": {"account_number": "x"}},
        headers=resident,
    )
    assert_problem(bad, 422, "validation-error")
    good = await api.post(
        f"/v1/me/applications/{case_id}/transitions",
        json={
            "to": "supplemented",
            "note": "통장 사본을 다시 냅니다",
            "answers": {"account_number": "302-9999-8888-77"},
        },
        headers=resident,
    )
    assert good.status_code == 200, good.text
    assert good.json()["status"] == "supplemented"
    assert good.json()["answers"]["account_number"] == "302-9999-8888-77"


async def test_a_case_received_before_chuseok_is_due_after_it(
    hub_state: HubState, people: dict[str, AccountPrincipal]
) -> None:
    """Received Wednesday 23 September 2026; Chuseok is Thursday to Saturday: one business day is Monday."""
    service = ApplicationService(
        hub_state.forms, hub_state.trail, hub_state.sealer, today=lambda: date(2026, 9, 23)
    )
    answers = {
        "applicant_name": "홍길동",
        "birth_date": "1980-01-01",
        "previous_address": "서울특별시 서초구",
        "new_address": "서울특별시 강남구",
        "new_postal_code": "06000",
        "moved_in_on": "2026-09-22",
        "household_status": "new_head",
        "movers_count": 1,
        "phone": "010-1234-5678",
    }
    async with transaction(hub_state.sessions) as session:
        row = await service.submit(session, people["resident"], "moving_in_report", answers, "test-chuseok")
    assert hub_state.forms["moving_in_report"].deadline_business_days == 1
    assert row.due_on == date(2026, 9, 28)
    assert row.case_number.startswith("20260923-")
