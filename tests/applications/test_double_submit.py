"""Submitting one form page twice makes one case: the page's submission key (its draft, or a key of its own)
fixes the application id, so a repeat gives back the first case and a submit racing the first is refused
with 409 ``application-already-submitted`` naming it; on the pages both clicks land on that one case."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from hub.applications.models import ApplicationRow
from hub.errors import Problem
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, principal
from tests.conftest import Backend, audit_rows
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio

FORM = "basic_pension"
ANSWERS = {**TYPED[FORM], **PERSONAL}
SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')


async def _cases_of(state: HubState, account_id: str) -> int:
    async with state.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ApplicationRow)
            .where(ApplicationRow.applicant_account_id == account_id)
        )
    return int(count or 0)


async def test_a_repeated_submission_key_gives_back_the_first_case(
    hub_state: HubState, backend: Backend
) -> None:
    resident = await principal(hub_state, "resident1")
    key = str(uuid.uuid4())
    before = await _cases_of(hub_state, resident.account_id)
    async with transaction(hub_state.sessions) as session:
        first = await hub_state.applications.submit(
            session, resident, FORM, ANSWERS, "submit-1", submission_key=key
        )
    async with transaction(hub_state.sessions) as session:
        again = await hub_state.applications.submit(
            session, resident, FORM, ANSWERS, "submit-2", submission_key=key
        )
    assert (again.application_id, again.case_number) == (first.application_id, first.case_number)
    assert await _cases_of(hub_state, resident.account_id) == before + 1
    received = [
        r for r in audit_rows(backend) if r["kind"] == "case_received" and r["request_id"] == "submit-2"
    ]
    assert received == []  # the repeat is not a second step on the record
    # Another resident's key of the same text is another submission, and without a key each submit is new.
    other = await principal(hub_state, "resident2")
    async with transaction(hub_state.sessions) as session:
        theirs = await hub_state.applications.submit(
            session, other, FORM, ANSWERS, "submit-3", submission_key=key
        )
    assert theirs.application_id != first.application_id


async def test_a_submit_racing_the_first_is_refused_naming_the_first_case(
    hub_state: HubState, backend: Backend
) -> None:
    resident = await principal(hub_state, "resident1")
    key = str(uuid.uuid4())
    before = await _cases_of(hub_state, resident.account_id)

    async def second() -> str:
        async with transaction(hub_state.sessions) as session:
            row = await hub_state.applications.submit(
                session, resident, FORM, ANSWERS, "race-2", submission_key=key
            )
            return row.application_id

    async with hub_state.sessions() as session:
        first = await hub_state.applications.submit(
            session, resident, FORM, ANSWERS, "race-1", submission_key=key
        )
        # The first is written but not committed: the second does not see it, and waits on its insert.
        racing = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not racing.done()
        await session.commit()
    with pytest.raises(Problem) as refused:
        await racing
    assert (refused.value.status, refused.value.slug) == (409, "application-already-submitted")
    assert refused.value.extra == {"application_id": first.application_id}
    assert await _cases_of(hub_state, resident.account_id) == before + 1
    kinds = [r["kind"] for r in audit_rows(backend) if r["request_id"] == "race-2"]
    assert kinds == []  # the refused submit left nothing on the record


async def _form_page(phone: httpx.AsyncClient) -> tuple[str, str]:
    page = await phone.get(f"/me/applications/new/{FORM}", params={"step": "form"})
    assert page.status_code == 200
    csrf, key = CSRF.search(page.text), SUBMISSION.search(page.text)
    assert csrf and key
    return csrf.group(1), key.group(1)


async def test_two_clicks_on_submit_land_on_one_case(hub_state: HubState, backend: Backend) -> None:
    resident = await principal(hub_state, "resident2")
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, "resident2", "resident2-pw")).status_code == 303
        csrf, key = await _form_page(phone)
        posted = {
            "csrf": csrf,
            "submission": key,
            "action": "submit",
            **{f"f.{k}": str(v) for k, v in ANSWERS.items()},
        }
        before = await _cases_of(hub_state, resident.account_id)
        # Two clicks at once, then a third after both (the back button): one case, every answer leads to it.
        clicks = await asyncio.gather(
            phone.post(f"/me/applications/new/{FORM}", data=posted),
            phone.post(f"/me/applications/new/{FORM}", data=posted),
        )
        clicks.append(await phone.post(f"/me/applications/new/{FORM}", data=posted))
        assert [r.status_code for r in clicks] == [303, 303, 303]
        places = {r.headers["location"] for r in clicks}
        assert len(places) == 1
        assert await _cases_of(hub_state, resident.account_id) == before + 1
        case = await phone.get(places.pop())
        assert case.status_code == 200
        # The next form page is a new submission: it makes a case of its own.
        csrf, fresh = await _form_page(phone)
        assert fresh != key
