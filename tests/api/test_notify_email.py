"""E-mail notices (issue 12, part two): a resident with an address gets an ``email`` outbox row in the event's
transaction; the worker sends it over SMTP to a real ``aiosmtpd`` server on 127.0.0.1, in the resident's
language, with a code that ``POST /v1/notices/verify`` confirms; an unreachable server is retried.

Each test makes its own resident (a fresh subject commitment and address), so rows other tests left in the
shared databases do not matter; the mail is told apart by its recipient.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from audit import AuditEvent
from hub.auth.accounts import create_account
from hub.notify import mail
from hub.notify.dispatch import Dispatcher, InboxChannel, RetryPolicy
from hub.notify.models import DELIVERED, TEMPORARY_FAILURE, OutboxRow
from hub.notify.outbox import EMAIL, INBOX
from hub.settings import Settings
from hub.state import HubState
from hub.uow import transaction

pytestmark = pytest.mark.anyio


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


def email_channel(smtp_url: str) -> mail.EmailChannel:
    return mail.EmailChannel(
        smtp_url,
        sender="Gongyu <notices@gongyu.test>",
        public_url="http://hub.test",
        document_title=lambda lang, d: f"{d}@{lang}",
        timeout=5,
    )


async def resident_with_mail(state: HubState, language: str) -> tuple[str, str]:
    """A fresh resident account with an address; its subject commitment and address."""
    subject = secrets.token_hex(32)
    address = f"r{uuid.uuid4().hex[:10]}@demo.gongyu.test"
    async with transaction(state.sessions) as session:
        await create_account(
            session,
            username=f"mail-{uuid.uuid4().hex[:12]}",
            password="unused-pw",
            role="resident",
            display_name="Mail test",
            subject_commitment=subject,
            email=address,
            language=language,
        )
    return subject, address


async def lookup_event(state: HubState, subject: str) -> str:
    event = AuditEvent(
        kind="lookup",
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


async def statuses(state: HubState, event_id: str) -> dict[str, str]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(OutboxRow.channel, OutboxRow.status).where(OutboxRow.event_id == event_id)
        )
        return {r.channel: r.status for r in rows}


async def test_a_resident_with_an_address_gets_an_email_row_in_the_events_transaction(
    hub_state: HubState,
) -> None:
    subject, _ = await resident_with_mail(hub_state, "en")
    event = AuditEvent(
        kind="consent_revoke", actor_kind="resident", actor_id="r", outcome="ok", subject_commitment=subject
    )
    async with hub_state.sessions() as session:
        await hub_state.trail.record(session, event)
        found = await session.execute(
            select(OutboxRow.channel).where(OutboxRow.event_id == event.event_id).order_by(OutboxRow.channel)
        )
        assert list(found.scalars()) == [EMAIL, INBOX]
        await session.rollback()
    assert await statuses(hub_state, event.event_id) == {}  # rolled back with its event


@pytest.mark.parametrize("language", ["en", "ja", "ko"])
async def test_the_mail_arrives_over_smtp_in_the_residents_language_with_a_code_that_verifies(
    hub_state: HubState, api: httpx.AsyncClient, smtp: tuple[Collector, str], language: str
) -> None:
    collector, url = smtp
    subject, address = await resident_with_mail(hub_state, language)
    event_id = await lookup_event(hub_state, subject)
    worker = Dispatcher(
        hub_state.sessions,
        hub_state.keys.data_key,
        channels={INBOX: InboxChannel(), EMAIL: email_channel(url)},
    )
    while await worker.run_once():
        pass
    assert await statuses(hub_state, event_id) == {INBOX: DELIVERED, EMAIL: DELIVERED}

    [received] = collector.to(address)
    assert received["Content-Language"] == language
    expected_subject = {"en": "[Gongyu] A notice", "ja": "[Gongyu] あなたの記録", "ko": "[공유]"}[language]
    assert str(received["Subject"]).startswith(expected_subject)
    text_part = received.get_body(preferencelist=("plain",))
    html_part = received.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    code = str(received["X-Gongyu-Notice-Code"])
    assert code in text and code in html
    assert f"http://hub.test/notices/verify?code={code}" in text
    assert f"resident_registration_abstract@{language}" in text  # the document named in that language
    assert "Test Bank" in text

    link = await api.get(f"/notices/verify?code={code}")  # the mail's link answers on the public page
    assert link.status_code == 200 and 'data-verdict="genuine"' in link.text
    answer = await api.post("/v1/notices/verify", json={"code": code})
    assert answer.status_code == 200
    body = answer.json()
    assert body["genuine"] is True and body["channel"] == EMAIL and body["kind"] == "lookup"


async def test_an_unreachable_smtp_server_is_a_temporary_failure_then_delivered(
    hub_state: HubState, smtp: tuple[Collector, str]
) -> None:
    collector, url = smtp
    subject, address = await resident_with_mail(hub_state, "vi")
    event_id = await lookup_event(hub_state, subject)
    closed = f"smtp://127.0.0.1:{mail.free_port()}"  # nothing listens there
    retry = RetryPolicy(max_attempts=3, base_seconds=0.001, cap_seconds=0.001)
    failing = Dispatcher(
        hub_state.sessions,
        hub_state.keys.data_key,
        channels={INBOX: InboxChannel(), EMAIL: email_channel(closed)},
        retry=retry,
    )
    while await failing.run_once():
        if (await statuses(hub_state, event_id)).get(EMAIL) == TEMPORARY_FAILURE:
            break
    async with hub_state.sessions() as session:
        row = (
            await session.execute(
                select(OutboxRow).where(OutboxRow.event_id == event_id, OutboxRow.channel == EMAIL)
            )
        ).scalar_one()
        assert row.status == TEMPORARY_FAILURE and row.attempts == 1 and row.last_error
    assert collector.to(address) == []

    import asyncio

    await asyncio.sleep(0.05)  # past the (tiny) back-off
    working = Dispatcher(
        hub_state.sessions,
        hub_state.keys.data_key,
        channels={INBOX: InboxChannel(), EMAIL: email_channel(url)},
        retry=retry,
    )
    while await working.run_once():
        pass
    assert (await statuses(hub_state, event_id))[EMAIL] == DELIVERED
    [received] = collector.to(address)
    assert received["Content-Language"] == "vi"


def test_the_demo_sink_keeps_mail_in_a_maildir_that_dev_mail_lists(tmp_path: Path) -> None:
    import smtplib

    sink = mail.MaildirSink(tmp_path / "mail")
    sink.start()
    try:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = "hello", "a@gongyu.test", "b@demo.gongyu.test"
        message["Date"], message["Content-Language"] = "Tue, 01 Dec 2026 12:00:00 +0000", "en"
        message.set_content("the body")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            client.send_message(message)
    finally:
        sink.stop()
    [stored] = mail.stored_mails(tmp_path / "mail")
    assert stored["subject"] == "hello" and stored["to"] == "b@demo.gongyu.test"
    assert stored["text"].strip() == "the body"


@pytest.mark.parametrize(
    ("environment", "dev_mail", "status"),
    [("development", None, 200), ("test", None, 404), ("test", True, 200), ("production", True, 404)],
)
async def test_dev_mail_is_served_in_development_only(
    hub_state: HubState, tmp_path: Path, environment: str, dev_mail: bool | None, status: int
) -> None:
    from hub.web import dev_mail as page

    settings = Settings(var_dir=tmp_path, environment=environment, dev_mail=dev_mail)  # type: ignore[arg-type]
    state = type("S", (), {"settings": settings})()
    if status == 404:
        with pytest.raises(Exception) as raised:
            await page.dev_mail(state)  # type: ignore[arg-type]
        assert getattr(raised.value, "status_code", None) == 404
    else:
        answer = await page.dev_mail(state)  # type: ignore[arg-type]
        assert answer.status_code == 200 and b"No mail yet" in answer.body
