"""Every kind issue 12 names produces its notices (issue 12, item 1).

A lookup under my consent says the consent was used, by whom, for which document; a decision my agent made
says it was made under my mandate; the agent a mandate was granted to hears of it; the kinds no request causes
(expiring, expired, exhausted), a consent request with a known resident and a change of the notice settings
each write one outbox row per enabled channel, in the event's own transaction; every notice reads in all six
languages.

Consents are granted to ``test-bank`` through the API, as in the consent tests; residents with an address are
made fresh per test, so rows other tests left in the shared databases do not matter.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from audit import AuditEvent
from audit.models import AuditEventRow
from hub import i18n
from hub.auth.accounts import create_account
from hub.notify import inbox
from hub.notify.dispatch import Dispatcher
from hub.notify.models import OutboxRow
from hub.notify.outbox import EMAIL, INBOX, NOTIFIED_KINDS
from hub.notify.webhooks import WEBHOOK
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import account_bearer, bearer
from tests.helpers.consent_flow import ABSTRACT, consent_lookup, create_request, granted

pytestmark = pytest.mark.anyio


async def rows_of(state: HubState, event_id: str) -> list[OutboxRow]:
    async with state.sessions() as session:
        found = await session.execute(
            select(OutboxRow).where(OutboxRow.event_id == event_id).order_by(OutboxRow.seq)
        )
        return list(found.scalars())


async def deliver_all(state: HubState) -> None:
    worker = Dispatcher(state.sessions, state.keys.data_key)
    while await worker.run_once():
        pass


async def my_notice(
    api: httpx.AsyncClient, state: HubState, username: str, message_id: str
) -> dict[str, Any]:
    """One of my notices as the API shows it (in English), found by its message id."""
    cursor: str | None = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await api.get(
            "/v1/me/notifications",
            params=params,
            headers={**account_bearer(state, username), "Accept-Language": "en"},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        for item in body["items"]:
            if item["id"] == message_id:
                return dict(item)
        cursor = body["next_cursor"]
        assert cursor is not None, f"notice {message_id} not in the inbox"


async def event_id_where(state: HubState, **values: Any) -> str:
    async with state.sessions() as session:
        found = await session.execute(
            select(AuditEventRow.event_id)
            .filter_by(**values)
            .order_by(AuditEventRow.seq.desc())
            .limit(1)
        )
        return str(found.scalar_one())


def english_title(state: HubState, document_type: str) -> str:
    return state.catalog[document_type].titles["en"]


async def test_a_lookup_under_my_consent_says_the_consent_was_used_by_whom_for_which_document(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state, resident="resident1", mode="standing", max_uses=3)
    looked = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert looked.status_code == 200, looked.text
    event_id = looked.json()["audit"]["event_id"]

    rows = await rows_of(hub_state, event_id)
    assert [r.channel for r in rows] == [INBOX]  # resident1 has no address: the inbox, once
    assert rows[0].params["via"] == "consent"
    await deliver_all(hub_state)
    notice = await my_notice(api, hub_state, "resident1", rows[0].message_id)
    title = english_title(hub_state, ABSTRACT["document_type"])
    assert notice["text"] == f"Test Bank used your consent to look up your {title}."


async def test_my_agent_deciding_under_my_mandate_tells_me_so_and_the_agent_hears_of_the_grant(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    granted_mandate = await api.post(
        "/v1/me/mandates",
        json={
            "agent_username": "resident2",
            "document_types": [ABSTRACT["document_type"]],
            "expires_at": until,
        },
        headers=account_bearer(hub_state, "resident0"),
    )
    assert granted_mandate.status_code == 201, granted_mandate.text
    mandate_id = granted_mandate.json()["mandate_id"]

    grant_event = await event_id_where(hub_state, kind="mandate_grant", basis=f"mandate:{mandate_id}")
    grant_rows = await rows_of(hub_state, grant_event)
    # One inbox row for each of the two people concerned: the principal and the agent.
    assert sorted((r.channel, r.params.get("role", "principal")) for r in grant_rows) == [
        (INBOX, "agent"),
        (INBOX, "principal"),
    ]
    agent_row = next(r for r in grant_rows if r.params.get("role") == "agent")

    request = await create_request(api, hub_state)
    decided = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve",
        json={"mandate_id": mandate_id},
        headers=account_bearer(hub_state, "resident2"),
    )
    assert decided.status_code == 200, decided.text
    consent_id = decided.json()["consent"]["consent_id"]
    approve_event = await event_id_where(hub_state, kind="consent_approve", reason=f"consent:{consent_id}")
    # The resident's own rows (a webhook row for the bank may be there too, if it registered an endpoint).
    [approve_row] = [r for r in await rows_of(hub_state, approve_event) if r.channel != WEBHOOK]
    assert approve_row.channel == INBOX and approve_row.params["via"] == "mandate"

    await deliver_all(hub_state)
    principal_notice = await my_notice(api, hub_state, "resident0", approve_row.message_id)
    assert principal_notice["text"] == (
        "Your agent, acting under the mandate you granted, approved a consent request in your name."
    )
    agent_notice = await my_notice(api, hub_state, "resident2", agent_row.message_id)
    assert agent_notice["text"] == "A resident granted you a mandate to act for them; see My consents."


async def resident_with_mail(state: HubState) -> str:
    subject = secrets.token_hex(32)
    async with transaction(state.sessions) as session:
        await create_account(
            session,
            username=f"cover-{uuid.uuid4().hex[:12]}",
            password="unused-pw",
            role="resident",
            display_name="Coverage test",
            subject_commitment=subject,
            email=f"c{uuid.uuid4().hex[:10]}@demo.gongyu.test",
            language="en",
        )
    return subject


@pytest.mark.parametrize(
    "kind",
    ["consent_request", "consent_expiring", "consent_expired", "consent_exhausted", "notice_preferences"],
)
async def test_each_new_kind_writes_one_row_per_enabled_channel_in_its_own_transaction(
    hub_state: HubState, kind: str
) -> None:
    subject = await resident_with_mail(hub_state)
    event = AuditEvent(
        kind=kind,
        actor_kind="system",
        actor_id="test",
        outcome="ok",
        subject_commitment=subject,
        reason=f"consent:{uuid.uuid4()}",
    )
    async with hub_state.sessions() as session:
        await hub_state.trail.record(session, event)
        found = await session.execute(select(OutboxRow.channel).where(OutboxRow.event_id == event.event_id))
        assert sorted(found.scalars()) == [EMAIL, INBOX]
        await session.rollback()
    assert await rows_of(hub_state, event.event_id) == []  # rolled back with its event


PARAMS: list[dict[str, Any]] = [
    {"outcome": "ok", "actor_org": "Test Bank", "document_type": "x", "via": "statute"},
    {"outcome": "denied", "actor_org": "Test Bank", "document_type": "x", "via": "consent"},
    {"outcome": "ok", "actor_org": "Test Bank", "document_type": "x", "via": "consent"},
    {"outcome": "ok", "actor_kind": "resident", "via": "mandate"},
    {"outcome": "ok", "actor_kind": "resident", "role": "agent"},
    {"outcome": "ok", "actor_kind": "system", "recipient_org": "Test Bank", "document_type": "x"},
]


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_every_notified_kind_reads_in_every_language_in_each_of_its_wordings(lang: str) -> None:
    for kind in sorted(NOTIFIED_KINDS):
        for params in PARAMS:
            sentence = inbox.text(lang, kind, params, lambda d: f"<{d}>")
            assert sentence and "{" not in sentence, (kind, params, sentence)
    # The wordings differ where they should: a consent used, a mandate, an agent, the sweep's kinds.
    used = inbox.text(lang, "lookup", PARAMS[2], lambda d: "D")
    assert used != inbox.text(lang, "lookup", PARAMS[0], lambda d: "D")
    assert "Test Bank" in used and "D" in used
    assert inbox.text(lang, "consent_approve", PARAMS[3], str) != inbox.text(lang, "consent_approve", {}, str)
    assert inbox.text(lang, "mandate_grant", PARAMS[4], str) != inbox.text(lang, "mandate_grant", {}, str)
    assert "Test Bank" in inbox.text(lang, "consent_expired", PARAMS[5], lambda d: "D")


def test_the_english_wordings_of_the_sweeps_kinds() -> None:
    def say(kind: str) -> str:
        return inbox.text("en", kind, PARAMS[5], lambda d: "D")

    assert say("consent_expiring") == "Your consent for Test Bank to see your D expires within 3 days."
    assert say("consent_expired") == (
        "Your consent for Test Bank to see your D has expired; it can no longer be used."
    )
    assert say("consent_exhausted") == (
        "Your consent for Test Bank to see your D has been used up; it can no longer be used."
    )
