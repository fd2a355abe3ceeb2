"""A filed dispute reaches every privacy officer of the organisation that made the access (inbox, and e-mail
where they have an address), no other organisation's; an escalation reaches the auditors; each notice in the
step's transaction, read through the staff inbox, and the resident keeps their own notice."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from hub.auth.models import AccountRow
from hub.notify import mail
from hub.notify.dispatch import Dispatcher
from hub.notify.models import OutboxRow
from hub.notify.outbox import EMAIL, INBOX
from hub.state import HubState
from hub.uow import transaction
from tests.api.test_notify_email import Collector, email_channel
from tests.conftest import Backend, account_bearer
from tests.disputes.support import bank_entry, privacy_officer

pytestmark = pytest.mark.anyio


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, str]]:
    """A real SMTP server on a free port that keeps what it receives (as tests/api/test_notify_email.py)."""
    collector = Collector()
    port = mail.free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


async def _ids(state: HubState, *usernames: str) -> dict[str, str]:
    async with state.sessions() as session:
        found = await session.execute(
            select(AccountRow.username, AccountRow.account_id).where(AccountRow.username.in_(usernames))
        )
        return {u: a for u, a in found.all()}


async def _rows_of(state: HubState, event_id: str) -> list[tuple[str | None, str | None, str]]:
    """(account id of a staff row or None, subject commitment or None, channel) of an event's outbox rows."""
    async with state.sessions() as session:
        found = await session.execute(
            select(OutboxRow.account_id, OutboxRow.subject_commitment, OutboxRow.channel).where(
                OutboxRow.event_id == event_id
            )
        )
        return [(a if s is None else None, s, c) for a, s, c in found.all()]


async def test_the_organisations_privacy_officers_hear_of_a_dispute_and_the_auditors_of_its_escalation(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, smtp: tuple[Collector, str]
) -> None:
    collector, smtp_url = smtp
    first = await privacy_officer(hub_state, "notice-bank-1", "Test Bank")
    await privacy_officer(hub_state, "notice-bank-2", "Test Bank")
    await privacy_officer(hub_state, "notice-office", "Test Office")
    ids = await _ids(hub_state, "notice-bank-1", "notice-bank-2", "notice-office", "auditor")
    async with transaction(hub_state.sessions) as session:
        await session.execute(
            update(AccountRow)
            .where(AccountRow.account_id == ids["notice-bank-1"])
            .values(email="privacy@bank.example", language="ko")
        )
    leaf = await bank_entry(api, hub_state, backend)
    resident = account_bearer(hub_state, "resident0")
    filed = await api.post(
        "/v1/me/disputes", json={"leaf_index": leaf, "reason": "unexpected"}, headers=resident
    )
    assert filed.status_code == 201, filed.text
    dispute = filed.json()
    filed_event = dispute["history"][0]["event_id"]

    rows = await _rows_of(hub_state, filed_event)
    # Other files' privacy officers of Test Bank may share this database (and are rightly told too): the
    # officers this test made are each told on their channels, the other organisation's and the auditor not.
    staff = sorted((a, c) for a, s, c in rows if s is None and a in ids.values())
    assert staff == sorted(
        [(ids["notice-bank-1"], "inbox"), (ids["notice-bank-1"], "email"), (ids["notice-bank-2"], "inbox")]
    )
    assert [c for a, s, c in rows if s is not None] == ["inbox"]  # the resident's own notice, as before
    assert ids["auditor"] not in {a for a, _ in staff} and ids["notice-office"] not in {a for a, _ in staff}

    channels = {INBOX: Dispatcher(hub_state.sessions, b"").channels[INBOX], EMAIL: email_channel(smtp_url)}
    dispatcher = Dispatcher(hub_state.sessions, hub_state.keys.data_key, channels=channels)
    while await dispatcher.run_once():
        pass
    [mailed] = collector.to("privacy@bank.example")  # in the officer's language, with the notice's code
    assert "Test Bank의" in mailed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    headers = {**first, "Accept-Language": "en"}
    inbox = (await api.get("/v1/staff/notifications", headers=headers)).json()
    mine = [n for n in inbox["items"] if n.get("dispute_id") == dispute["dispute_id"]]
    assert [n["kind"] for n in mine] == ["dispute_filed"]
    assert mine[0]["text"].startswith("A resident disputes an access by Test Bank")
    office = await api.get("/v1/staff/notifications", headers=account_bearer(hub_state, "notice-office"))
    assert dispute["dispute_id"] not in {n.get("dispute_id") for n in office.json()["items"]}

    escalated = await api.post(
        f"/v1/disputes/{dispute['dispute_id']}/answer",
        json={"action": "escalated", "answer": "needs an audit"},
        headers=first,
    )
    assert escalated.status_code == 200, escalated.text
    escalation_event = escalated.json()["history"][1]["event_id"]
    rows = await _rows_of(hub_state, escalation_event)
    told = {a for a, s, c in rows if s is None}
    assert ids["auditor"] in told and not told & {ids["notice-bank-1"], ids["notice-bank-2"]}
    await Dispatcher(hub_state.sessions, hub_state.keys.data_key).run_once()
    auditor = {**account_bearer(hub_state, "auditor"), "Accept-Language": "ko"}
    theirs = (await api.get("/v1/staff/notifications", headers=auditor)).json()["items"]
    assert [n["kind"] for n in theirs if n.get("dispute_id") == dispute["dispute_id"]] == [
        "dispute_escalated"
    ]
