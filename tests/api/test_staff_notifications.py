"""The staff inbox (``/v1/staff/notifications``): paged newest first with a cursor, an unread count, marked
read once; a staff account sees only its own notices, a resident none of them, and a staff account none of
a resident's (both ways, the list and the mark)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert, select

from audit import AuditEvent
from hub.auth.models import AccountRow
from hub.notify import outbox
from hub.notify.dispatch import Dispatcher
from hub.notify.models import OutboxRow
from hub.state import HubState
from hub.uow import transaction
from tests.api.test_notifications import announced
from tests.conftest import account_bearer

pytestmark = pytest.mark.anyio


async def account_id(state: HubState, username: str) -> str:
    async with state.sessions() as session:
        found = await session.execute(select(AccountRow.account_id).where(AccountRow.username == username))
        return str(found.scalar_one())


async def staff_notices(state: HubState, account: str, count: int) -> list[str]:
    """``count`` delivered overdue alerts to ``account`` (rows as ``announce_staff`` writes them)."""
    rows = []
    for n in range(count):
        event = AuditEvent(kind="case_overdue", actor_kind="system", actor_id="test", outcome="ok")
        extra = {"case_number": f"20260101-{n:08X}", "due_on": "2026-01-02", "application_id": event.event_id}
        rows += outbox.staff_rows_for(event, account, (outbox.INBOX,), extra, event.occurred_at)
    async with transaction(state.sessions) as session:
        await session.execute(insert(OutboxRow), rows)
    dispatcher = Dispatcher(state.sessions, state.keys.data_key)
    while await dispatcher.run_once():
        pass
    return [str(r["message_id"]) for r in rows]


async def test_the_staff_inbox_pages_counts_and_marks_read(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    official = await account_id(hub_state, "official")
    written = await staff_notices(hub_state, official, 5)
    headers = {**account_bearer(hub_state, "official"), "Accept-Language": "en"}

    first = await api.get("/v1/staff/notifications", params={"limit": 3}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    unread = body["unread"]
    assert unread >= 5 and len(body["items"]) == 3 and body["next_cursor"]
    assert [i["id"] for i in body["items"]] == written[::-1][:3]  # newest first
    assert body["items"][0]["text"] == "Case 20260101-00000004 is overdue: it was due on 2026-01-02."
    second = await api.get(
        "/v1/staff/notifications", params={"limit": 3, "cursor": body["next_cursor"]}, headers=headers
    )
    assert [i["id"] for i in second.json()["items"]][:2] == written[::-1][3:5]

    marked = await api.post(f"/v1/staff/notifications/{written[0]}/read", headers=headers)
    assert marked.status_code == 200 and marked.json()["unread"] == unread - 1
    again = await api.post(f"/v1/staff/notifications/{written[0]}/read", headers=headers)
    assert again.json()["read_at"] == marked.json()["read_at"] and again.json()["unread"] == unread - 1
    only_unread = await api.get("/v1/staff/notifications", params={"unread_only": "true"}, headers=headers)
    assert written[0] not in {i["id"] for i in only_unread.json()["items"]}

    bad = await api.get("/v1/staff/notifications", params={"cursor": "x1"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["type"] == "/problems/invalid-cursor"


async def test_neither_a_resident_nor_another_staff_account_reads_a_staff_notice(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    official = await account_id(hub_state, "official")
    [notice] = await staff_notices(hub_state, official, 1)
    resident = account_bearer(hub_state, "resident0")
    auditor = account_bearer(hub_state, "auditor")

    refused = await api.get("/v1/staff/notifications", headers=resident)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/role-required"
    assert (await api.post(f"/v1/staff/notifications/{notice}/read", headers=resident)).status_code == 403
    theirs = await api.get("/v1/me/notifications", params={"limit": 100}, headers=resident)
    assert notice not in {i["id"] for i in theirs.json()["items"]}
    assert (await api.post(f"/v1/me/notifications/{notice}/read", headers=resident)).status_code == 404

    others = await api.get("/v1/staff/notifications", params={"limit": 100}, headers=auditor)
    assert others.status_code == 200 and notice not in {i["id"] for i in others.json()["items"]}
    assert (await api.post(f"/v1/staff/notifications/{notice}/read", headers=auditor)).status_code == 404


async def test_a_staff_account_reads_no_residents_notice(api: httpx.AsyncClient, hub_state: HubState) -> None:
    async with hub_state.sessions() as session:
        found = await session.execute(
            select(AccountRow.subject_commitment).where(AccountRow.username == "resident0")
        )
        subject = str(found.scalar_one())
    [resident_notice] = await announced(hub_state, subject, count=1)
    dispatcher = Dispatcher(hub_state.sessions, hub_state.keys.data_key)
    while await dispatcher.run_once():
        pass
    resident = account_bearer(hub_state, "resident0")
    seen = await api.get("/v1/me/notifications", params={"limit": 100}, headers=resident)
    assert resident_notice in {i["id"] for i in seen.json()["items"]}  # delivered: there to be read

    official = account_bearer(hub_state, "official")
    assert (await api.get("/v1/me/notifications", headers=official)).status_code == 403
    listed = await api.get("/v1/staff/notifications", params={"limit": 100}, headers=official)
    assert resident_notice not in {i["id"] for i in listed.json()["items"]}
    marked = await api.post(f"/v1/staff/notifications/{resident_notice}/read", headers=official)
    assert marked.status_code == 404
