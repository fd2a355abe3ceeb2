"""Notice preferences (issue 12, item 5): e-mail per group of notices, quiet hours in Korean time and a daily
digest, through ``/v1/me/notification-preferences`` and the portal page.

E-mail off for a group writes no e-mail row; quiet hours put the e-mail back to ``created`` until they end
while the inbox is delivered at once; a digest gathers a day's notices into one e-mail received by a real
``aiosmtpd`` server, each notice's code verifiable. Time is an injected clock, never a sleep. Each test makes
its own resident with an address, so rows other tests left in the shared databases do not matter.
"""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from audit import AuditEvent
from audit.events import utcnow
from audit.models import AuditEventRow
from hub import i18n
from hub.auth.accounts import create_account
from hub.notify import mail, preferences
from hub.notify.dispatch import Dispatcher, InboxChannel
from hub.notify.models import CREATED, DELIVERED, OutboxRow
from hub.notify.outbox import EMAIL, INBOX
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
PREFS = "/v1/me/notification-preferences"


class Collector:
    """An aiosmtpd handler that keeps what it receives (the real SMTP conversation, in memory)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # the name aiosmtpd calls
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.received if address in rcpts]


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, str]]:
    collector = Collector()
    port = mail.free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


class Resident:
    def __init__(self, account_id: str, subject: str, address: str, token: str) -> None:
        self.account_id, self.subject, self.address = account_id, subject, address
        self.headers = {"Authorization": f"Bearer {token}"}


async def resident(state: HubState) -> Resident:
    subject = secrets.token_hex(32)
    address = f"p{uuid.uuid4().hex[:10]}@demo.gongyu.test"
    async with transaction(state.sessions) as session:
        row = await create_account(
            session,
            username=f"prefs-{uuid.uuid4().hex[:12]}",
            password="unused-pw",
            role="resident",
            display_name="Preferences test",
            subject_commitment=subject,
            email=address,
            language="en",
        )
        account_id = row.account_id
    token = state.tokens.issue_account(account_id, "resident", "Preferences test", None, subject)
    return Resident(account_id, subject, address, token)


async def record(state: HubState, subject: str, kind: str = "lookup") -> str:
    event = AuditEvent(
        kind=kind,
        actor_kind="client",
        actor_id="test-bank",
        actor_org="Test Bank",
        outcome="ok",
        subject_commitment=subject,
        document_type="resident_registration_abstract",
    )
    async with transaction(state.sessions) as session:
        await state.trail.record(session, event)
    return event.event_id


async def rows(state: HubState, event_id: str) -> dict[str, OutboxRow]:
    async with state.sessions() as session:
        found = await session.execute(select(OutboxRow).where(OutboxRow.event_id == event_id))
        return {r.channel: r for r in found.scalars()}


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def next_kst(hour: int, minute: int = 0, after: datetime | None = None) -> datetime:
    """The first ``hour:minute`` KST after ``after`` (now), in UTC."""
    local = (after or utcnow()).astimezone(preferences.KST)
    moment = datetime.combine(local.date(), time(hour, minute), tzinfo=preferences.KST)
    if moment <= local:
        moment += timedelta(days=1)
    return moment.astimezone(UTC)


def dispatcher(state: HubState, smtp_url: str, clock: Any) -> Dispatcher:
    channel = mail.EmailChannel(
        smtp_url,
        sender="Gongyu <notices@gongyu.test>",
        public_url="http://hub.test",
        document_title=lambda lang, d: f"{d}@{lang}",
        timeout=5,
        code_key=state.keys.data_key,
        clock=clock,
    )
    return Dispatcher(
        state.sessions, state.keys.data_key, channels={INBOX: InboxChannel(), EMAIL: channel}, clock=clock
    )


def about_the_lookup(received: list[EmailMessage]) -> list[EmailMessage]:
    """The mails telling of the test's lookups (not the one telling of the settings change)."""
    sentence = "Test Bank looked up your resident_registration_abstract@en."
    return [m for m in received if sentence in m.get_body(preferencelist=("plain",)).get_content()]  # type: ignore[union-attr]


async def drain(worker: Dispatcher) -> None:
    while await worker.run_once():
        pass


async def changes_recorded(state: HubState, account_id: str) -> int:
    async with state.sessions() as session:
        found = await session.execute(
            select(func.count())
            .select_from(AuditEventRow)
            .where(AuditEventRow.kind == "notice_preferences", AuditEventRow.actor_id == account_id)
        )
        return int(found.scalar_one())


# -- the API ------------------------------------------------------------------------------------------------


async def test_preferences_start_at_the_defaults_and_read_back_as_saved(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    me = await resident(hub_state)
    first = await api.get(PREFS, headers=me.headers)
    assert first.status_code == 200
    assert first.json() == {
        "email": {"accesses": True, "consents": True, "mandates": True, "documents": True},
        "quiet_hours": None,
        "digest_hour": None,
        "timezone": "Asia/Seoul",
    }
    chosen = {
        "email": {"accesses": False, "consents": True, "mandates": False, "documents": True},
        "quiet_hours": {"start": "22:30", "end": "06:45"},
        "digest_hour": 8,
    }
    saved = await api.put(PREFS, json=chosen, headers=me.headers)
    assert saved.status_code == 200, saved.text
    again = (await api.get(PREFS, headers=me.headers)).json()
    assert {k: again[k] for k in chosen} == chosen
    assert await changes_recorded(hub_state, me.account_id) == 1


async def test_a_change_of_settings_is_on_the_record_and_e_mailed_even_with_every_group_off(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    me = await resident(hub_state)
    off = {"email": dict.fromkeys(preferences.GROUPS, False)}
    assert (await api.put(PREFS, json=off, headers=me.headers)).status_code == 200
    async with hub_state.sessions() as session:
        event_id = (
            await session.execute(
                select(AuditEventRow.event_id).where(
                    AuditEventRow.kind == "notice_preferences", AuditEventRow.actor_id == me.account_id
                )
            )
        ).scalar_one()
    assert set(await rows(hub_state, event_id)) == {INBOX, EMAIL}


@pytest.mark.parametrize(
    "body",
    [
        {"quiet_hours": {"start": "25:00", "end": "07:00"}},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "22:00"}},
        {"digest_hour": 24},
        {"digest_hour": -1},
        {"email": {"accesses": "maybe"}},
        {"email": {"lookups": False}},
        {"sms": True},
    ],
)
async def test_bad_input_is_a_problem_and_changes_nothing(
    api: httpx.AsyncClient, hub_state: HubState, body: dict[str, Any]
) -> None:
    me = await resident(hub_state)
    before = (await api.get(PREFS, headers=me.headers)).json()
    answer = await api.put(PREFS, json=body, headers={**me.headers, "Accept-Language": "ko"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("validation-error")
    assert (await api.get(PREFS, headers=me.headers)).json() == before
    assert await changes_recorded(hub_state, me.account_id) == 0


# -- what the preferences do --------------------------------------------------------------------------------


async def test_email_turned_off_for_a_group_writes_no_email_row_and_other_groups_keep_theirs(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    me = await resident(hub_state)
    assert set(await rows(hub_state, await record(hub_state, me.subject))) == {INBOX, EMAIL}
    body = {"email": {"accesses": False}}
    assert (await api.put(PREFS, json=body, headers=me.headers)).status_code == 200
    assert set(await rows(hub_state, await record(hub_state, me.subject))) == {INBOX}
    assert set(await rows(hub_state, await record(hub_state, me.subject, "consent_revoke"))) == {INBOX, EMAIL}


async def test_quiet_hours_defer_the_email_to_their_end_and_not_the_inbox(
    api: httpx.AsyncClient, hub_state: HubState, smtp: tuple[Collector, str]
) -> None:
    collector, url = smtp
    me = await resident(hub_state)
    quiet = {"quiet_hours": {"start": "22:00", "end": "07:00"}}
    assert (await api.put(PREFS, json=quiet, headers=me.headers)).status_code == 200
    event_id = await record(hub_state, me.subject)

    late = next_kst(23, 15)  # inside the window, the next night
    await drain(dispatcher(hub_state, url, lambda: late))
    written = await rows(hub_state, event_id)
    assert written[INBOX].status == DELIVERED  # the inbox is never held back
    held = written[EMAIL]
    morning = next_kst(7, 0, after=late)
    assert (held.status, held.attempts) == (CREATED, 0)  # the truth: not sent, nothing tried
    assert aware(held.next_attempt_at) == morning
    assert about_the_lookup(collector.to(me.address)) == []
    # The notice of the settings change itself is a security notice: sent at once, quiet hours or not.
    assert len(collector.to(me.address)) == 1

    await drain(dispatcher(hub_state, url, lambda: morning + timedelta(minutes=1)))
    assert (await rows(hub_state, event_id))[EMAIL].status == DELIVERED
    assert len(about_the_lookup(collector.to(me.address))) == 1


async def test_the_digest_gathers_the_days_notices_into_one_email_whose_codes_all_verify(
    api: httpx.AsyncClient, hub_state: HubState, smtp: tuple[Collector, str]
) -> None:
    collector, url = smtp
    me = await resident(hub_state)
    hour = (utcnow().astimezone(preferences.KST).hour + 2) % 24
    assert (await api.put(PREFS, json={"digest_hour": hour}, headers=me.headers)).status_code == 200
    events = [await record(hub_state, me.subject) for _ in range(3)]

    await drain(dispatcher(hub_state, url, utcnow))
    due = next_kst(hour)
    for event_id in events:
        written = await rows(hub_state, event_id)
        assert written[INBOX].status == DELIVERED
        assert (written[EMAIL].status, aware(written[EMAIL].next_attempt_at)) == (CREATED, due)
    assert about_the_lookup(collector.to(me.address)) == []

    await drain(dispatcher(hub_state, url, lambda: due + timedelta(minutes=1)))
    [digest] = about_the_lookup(collector.to(me.address))  # one e-mail for the three notices
    assert str(digest["Subject"]) == "[Gongyu] Your notices of the day (3)"
    text = str(digest.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    codes = re.findall(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b", text)
    assert len(set(codes)) == 3
    for event_id in events:
        assert (await rows(hub_state, event_id))[EMAIL].status == DELIVERED
    for code in set(codes):
        answer = await api.post("/v1/notices/verify", json={"code": code})
        assert answer.json()["genuine"] is True and answer.json()["channel"] == EMAIL


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = preferences.Preferences(quiet_start=22 * 60, quiet_end=7 * 60)
    day = preferences.Preferences(quiet_start=12 * 60, quiet_end=13 * 60)

    def kst(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 12, 1, hour, minute, tzinfo=preferences.KST)

    assert preferences.quiet_until(night, kst(23)) == kst(7).astimezone(UTC) + timedelta(days=1)
    assert preferences.quiet_until(night, kst(3)) == kst(7).astimezone(UTC)
    assert preferences.quiet_until(night, kst(7)) is None
    assert preferences.quiet_until(night, kst(21, 59)) is None
    assert preferences.quiet_until(day, kst(12, 30)) == kst(13).astimezone(UTC)
    assert preferences.quiet_until(day, kst(13)) is None
    assert preferences.quiet_until(preferences.Preferences(), kst(23)) is None


# -- the page -----------------------------------------------------------------------------------------------


async def test_the_preferences_page_reads_in_six_languages_and_saves_with_its_csrf_token(
    hub_state: HubState, backend: Backend
) -> None:
    async with open_browsers(hub_state, backend, 1) as (browser,):
        signed = await sign_in(browser, "resident1", "resident1-pw", "/me")
        assert signed.status_code == 303
        home = await browser.get("/me?lang=en")
        assert 'href="/me/notices/preferences"' in home.text  # the way there from the portal
        for lang in i18n.SUPPORTED:
            page = await browser.get(f"/me/notices/preferences?lang={lang}")
            assert page.status_code == 200
            assert f'<html lang="{lang}"' in page.text
            assert i18n.gettext(lang, "notify", "notify.prefs.title") in page.text
            assert i18n.gettext(lang, "notify", "notify.prefs.group.accesses") in page.text
        token = CSRF.search(page.text)
        assert token
        form = {
            "csrf": token.group(1),
            "email": ["consents", "documents"],
            "quiet": "on",
            "quiet_start": "21:00",
            "quiet_end": "06:30",
            "digest_hour": "9",
        }
        saved = await browser.post("/me/notices/preferences?lang=en", data=form)
        assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
        shown = await browser.get(saved.headers["location"] + "&lang=en")
        assert "Your notice settings were saved." in shown.text
        assert 'value="21:00"' in shown.text and 'value="9" selected' in shown.text
        assert 'value="accesses">' in shown.text and 'value="consents" checked>' in shown.text

        forged = await browser.post("/me/notices/preferences", data={**form, "csrf": "x" * 64})
        assert forged.status_code == 403
        same = await browser.post(
            "/me/notices/preferences?lang=en", data={**form, "quiet_start": "06:30", "quiet_end": "06:30"}
        )
        assert same.status_code == 422 and "were not saved" in same.text
        assert 'value="21:00"' in same.text  # what was saved before, unchanged
        for odd in ({"digest_hour": "nine"}, {"digest_hour": "24"}, {"email": ["consents", "sms"]}):
            refused = await browser.post("/me/notices/preferences?lang=en", data={**form, **odd})
            assert refused.status_code == 422, odd


def test_every_notified_kind_is_in_a_group_the_resident_can_switch_or_named_urgent() -> None:
    from hub.notify.outbox import NOTIFIED_KINDS

    unclassified = NOTIFIED_KINDS - set(preferences.GROUP_OF) - preferences.URGENT
    assert unclassified == set(), "give each new notified kind a group in hub/notify/preferences.py"
    assert set(preferences.GROUP_OF.values()) == set(preferences.GROUPS)
    chosen = preferences.Preferences(email=dict.fromkeys(preferences.GROUPS, False))
    assert [k for k in sorted(NOTIFIED_KINDS) if chosen.email_for(k)] == sorted(preferences.URGENT)
