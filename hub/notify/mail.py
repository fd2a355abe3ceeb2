"""The e-mail channel: one multipart (text + HTML) mail per notice, in the resident's language, over SMTP.

Rendered at delivery, not when the event is written: the address and language are read from the account
then (a resident who changes either hears at the new address, in the new language), and the event's
transaction, the lookup's hot path, carries only the decision that an e-mail row exists. A mail carries the
notice's sentence, its verification code and the link to check it, never field values: an e-mail crosses
servers the hub does not control.

``MaildirSink`` is the demo's SMTP server (aiosmtpd, in a thread): what the hub sends is kept under
``var/mail/`` as a Maildir, and ``stored_mails`` lists it for ``/dev/mail``.
"""

from __future__ import annotations

import email.policy
import mailbox
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import utcnow
from hub import i18n
from hub.auth.models import AccountRow
from hub.notify import codes, inbox, preferences
from hub.notify.dispatch import Deferred, Message, PermanentFailure, Settled
from hub.notify.models import DELIVERED, SENDING, WAITING, OutboxRow, PreferenceRow

DOMAIN: Final = "notify"
TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
DocumentTitle = Callable[[str, str | None], str]


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to send, parsed from ``GONGYU_SMTP_URL``."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("GONGYU_SMTP_URL must look like smtp://host:port or smtps://user:pass@host:port")
        implicit = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in {"1", "true", "yes"}
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            use_tls=implicit,
            start_tls=starttls and not implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def verify_link(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/notices/verify?code={quote(code)}"


def _envelope(mail: EmailMessage, *, subject: str, sender: str, to: str, message: Message) -> None:
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = Address(addr_spec=to)
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = make_msgid(idstring=message.message_id, domain="gongyu.notify")
    mail["X-Gongyu-Notice-Code"] = message.code


def compose_digest(
    messages: list[Message],
    *,
    to: str,
    lang: str,
    sender: str,
    public_url: str,
    document_title: DocumentTitle,
) -> EmailMessage:
    """One mail for a day's notices, oldest first, each with its own code and link.

    Its ``Message-ID`` and ``X-Gongyu-Notice-Code`` are those of the first notice (the one whose delivery
    sent it), so a retried digest is the same mail to the receiving side.
    """
    lang = lang if lang in i18n.SUPPORTED else i18n.DEFAULT

    def t(key: str, **values: str) -> str:
        return i18n.gettext(lang, DOMAIN, key).format(**values)

    items = []
    for message in messages:
        occurred = message.params.get("occurred_at")
        sentence = inbox.text(lang, message.kind, dict(message.params), lambda d: document_title(lang, d))
        items.append(
            {
                "sentence": sentence,
                "when": i18n.format_moment(occurred, lang) if occurred else "",
                "code": message.code,
                "link": verify_link(public_url, message.code),
            }
        )
    count = i18n.format_number(len(messages), lang)
    context: dict[str, Any] = {
        "lang": lang,
        "heading": t("notify.email.digest_heading", count=count),
        "items": items,
        "when_label": t("notify.email.when"),
        "code_label": t("notify.email.code"),
        "verify": t("notify.email.verify"),
        "never": t("notify.email.never"),
        "footer": t("notify.email.footer"),
    }
    mail = EmailMessage(policy=email.policy.SMTP)
    subject = t("notify.email.digest_subject", count=count)
    _envelope(mail, subject=subject, sender=sender, to=to, message=messages[0])
    mail.set_content(_env.get_template("digest.txt").render(context))
    mail.add_alternative(_env.get_template("digest.html").render(context), subtype="html")
    mail["Content-Language"] = lang
    return mail


def compose(
    message: Message,
    *,
    to: str,
    lang: str,
    sender: str,
    public_url: str,
    document_title: DocumentTitle,
) -> EmailMessage:
    """The mail for one notice: text and HTML alternatives from the same words, ``Message-ID`` stable.

    The ``Message-ID`` is derived from the outbox message id, so a mail retried after a lost answer is the
    same mail to the receiving side, which may drop the duplicate.
    """
    lang = lang if lang in i18n.SUPPORTED else i18n.DEFAULT
    params = dict(message.params)
    sentence = inbox.text(lang, message.kind, params, lambda d: document_title(lang, d))
    occurred = params.get("occurred_at")

    def t(key: str, **values: str) -> str:
        return i18n.gettext(lang, DOMAIN, key).format(**values)

    link = verify_link(public_url, message.code)
    context: dict[str, Any] = {
        "lang": lang,
        "sentence": sentence,
        "when_label": t("notify.email.when"),
        "when": i18n.format_moment(occurred, lang) if occurred else "",
        "code_label": t("notify.email.code"),
        "code": message.code,
        "link": link,
        "verify": t("notify.email.verify"),
        "never": t("notify.email.never"),
        "footer": t("notify.email.footer"),
        "message_id": message.message_id,
    }
    mail = EmailMessage(policy=email.policy.SMTP)
    _envelope(mail, subject=t("notify.email.subject"), sender=sender, to=to, message=message)
    mail.set_content(_env.get_template("email.txt").render(context))
    mail.add_alternative(_env.get_template("email.html").render(context), subtype="html")
    # After the content: setting content drops every ``Content-*`` header, this one included.
    mail["Content-Language"] = lang
    return mail


class EmailChannel:
    """Delivers a notice to its resident's e-mail address through ``GONGYU_SMTP_URL``, as they chose.

    A resident without an address (removed since the row was written) or a recipient the server refuses for
    good (5xx) is a permanent failure; a server that cannot be reached or answers 4xx is retried.

    The resident's preferences are read with the account, in the same query, at delivery: e-mail turned off
    for the kind since the row was written is not sent; inside quiet hours the row is deferred to their end
    (:class:`Deferred`: ``created`` again, no attempt spent); with a daily digest it is deferred to the digest
    hour, and the first row of a resident's due at that hour sends the one digest e-mail carrying all of
    them (the others end ``delivered`` with it and are :class:`Settled` when their turn comes). ``clock``
    is injectable so tests move time instead of waiting for it.
    """

    def __init__(
        self,
        smtp_url: str,
        *,
        sender: str,
        public_url: str,
        document_title: DocumentTitle,
        timeout: float = 10.0,
        code_key: bytes | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = 60.0,
    ) -> None:
        self.target = SmtpTarget.parse(smtp_url)
        self.sender = sender
        self.public_url = public_url
        self.document_title = document_title
        self.timeout = timeout
        self.code_key = code_key
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)

    async def deliver(self, session: AsyncSession, message: Message) -> str | None:
        if message.subject_commitment is None and message.account_id is not None:
            return await self._deliver_to_staff(session, message)
        if message.subject_commitment is None:
            raise PermanentFailure("no recipient")
        account = (
            await session.execute(
                select(
                    AccountRow.account_id,
                    AccountRow.email,
                    AccountRow.language,
                    *preferences.preference_columns(),
                )
                .outerjoin(PreferenceRow, PreferenceRow.account_id == AccountRow.account_id)
                .where(
                    AccountRow.subject_commitment == message.subject_commitment,
                    AccountRow.role == "resident",
                    AccountRow.email.is_not(None),
                )
                .limit(1)
            )
        ).one_or_none()
        if account is None or not account.email:
            raise PermanentFailure("no e-mail address")
        chosen = preferences.Preferences.of_columns(*account[3:])
        if not chosen.email_for(message.kind):
            raise PermanentFailure("e-mail turned off for this kind of notice")
        now = self.clock()
        # A security notice (a change of these very settings) is sent at once.
        urgent = message.kind in preferences.URGENT
        quiet = None if urgent else preferences.quiet_until(chosen, now)
        if quiet is not None:
            raise Deferred(quiet)
        batch = [message]
        if chosen.digest_hour is not None and self.code_key is not None and not urgent:
            due = preferences.digest_after(message.created_at or now, chosen.digest_hour)
            if due > now:
                raise Deferred(due)
            batch = await self._gather(session, message, preferences.digest_before(now, chosen.digest_hour))
        # End the read before talking to the mail server: no connection or SQLite lock is held meanwhile.
        await session.commit()
        lang = account.language or i18n.DEFAULT
        options = {
            "to": account.email,
            "lang": lang,
            "sender": self.sender,
            "public_url": self.public_url,
            "document_title": self.document_title,
        }
        mail = compose_digest(batch, **options) if len(batch) > 1 else compose(message, **options)
        await self._send(mail)
        if len(batch) > 1:
            await self._settle(session, batch[1:], str(account.account_id))
        return str(account.account_id)

    async def _deliver_to_staff(self, session: AsyncSession, message: Message) -> str:
        """A staff account's notice (a deadline alert, a dispute to answer): sent at once, one mail each.

        Staff have no notice preferences (no quiet hours, no digest): these notices are about their work.
        """
        assert message.account_id is not None
        account = (
            await session.execute(
                select(AccountRow.email, AccountRow.language).where(
                    AccountRow.account_id == message.account_id,
                    AccountRow.active.is_(True),
                    AccountRow.email.is_not(None),
                )
            )
        ).one_or_none()
        if account is None or not account.email:
            raise PermanentFailure("no e-mail address")
        await session.commit()  # as for a resident: no connection or SQLite lock held while mailing
        mail = compose(
            message,
            to=account.email,
            lang=account.language or i18n.DEFAULT,
            sender=self.sender,
            public_url=self.public_url,
            document_title=self.document_title,
        )
        await self._send(mail)
        return message.account_id

    async def _gather(self, session: AsyncSession, message: Message, cutoff: datetime) -> list[Message]:
        """Take every e-mail of this resident written before the digest moment ``cutoff`` and not yet sent
        (this message first): the rows this worker holds and those due and free. :class:`Settled` if this
        message itself went out with an earlier digest."""
        assert self.code_key is not None and message.worker
        now = self.clock()
        free = or_(
            and_(OutboxRow.status.in_(WAITING), OutboxRow.next_attempt_at <= now),
            and_(
                OutboxRow.status == SENDING,
                or_(OutboxRow.claimed_by == message.worker, OutboxRow.claimed_until < now),
            ),
        )
        taken = await session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.subject_commitment == message.subject_commitment,
                OutboxRow.channel == message.channel,
                OutboxRow.created_at < cutoff,
                free,
            )
            .values(status=SENDING, claimed_by=message.worker, claimed_until=now + self.lease)
            .returning(OutboxRow.seq, OutboxRow.message_id, OutboxRow.kind, OutboxRow.params)
            .execution_options(synchronize_session=False)
        )
        rows = sorted(taken.all(), key=lambda r: r.seq)
        if message.seq not in {r.seq for r in rows}:
            raise Settled()
        others = [
            replace(
                message,
                seq=r.seq,
                message_id=r.message_id,
                kind=r.kind,
                params=r.params or {},
                code=codes.notice_code(self.code_key, r.message_id),
            )
            for r in rows
            if r.seq != message.seq
        ]
        return [message, *others]

    async def _settle(self, session: AsyncSession, others: list[Message], account_id: str) -> None:
        """The other notices of a digest are delivered with it (in the transaction the dispatcher commits)."""
        now = self.clock()
        for other in others:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq == other.seq, OutboxRow.claimed_by == other.worker)
                .values(
                    status=DELIVERED,
                    delivered_at=now,
                    account_id=account_id,
                    code_hash=codes.code_hash(other.code),
                    claimed_until=None,
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )

    async def _send(self, mail: EmailMessage) -> None:
        target = self.target
        try:
            await aiosmtplib.send(
                mail,
                hostname=target.hostname,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.use_tls,
                start_tls=target.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(500 <= r.code < 600 for r in exc.recipients):
                raise PermanentFailure(f"recipient refused: {exc}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise PermanentFailure(f"refused: {exc.code} {exc.message}") from exc
            raise


# -- the demo's sink --------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MaildirSink:
    """An SMTP server on 127.0.0.1 keeping every mail in a Maildir (the demo's stand-in for a mail host)."""

    def __init__(self, mail_dir: Path, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        mail_dir.parent.mkdir(parents=True, exist_ok=True)
        self.mail_dir = mail_dir
        self.port = port or free_port()
        self._controller = Controller(Mailbox(mail_dir), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def stored_mails(mail_dir: Path, limit: int = 50) -> list[dict[str, str]]:
    """The newest mails of a Maildir, each with its headers of interest and its text part."""
    if not mail_dir.exists():
        return []
    box = mailbox.Maildir(mail_dir, factory=None, create=False)
    found: list[dict[str, str]] = []
    for key in box.keys():
        parsed = box.get_message(key)
        raw = email.message_from_bytes(parsed.as_bytes(), policy=email.policy.default)
        assert isinstance(raw, EmailMessage)
        body = raw.get_body(preferencelist=("plain",))
        date = str(raw.get("Date", ""))
        found.append(
            {
                "key": key,
                "subject": str(raw.get("Subject", "")),
                "to": str(raw.get("To", "")),
                "date": date,
                "language": str(raw.get("Content-Language", "")),
                "text": body.get_content() if body is not None else "",
                "_sort": parsedate_to_datetime(date).isoformat() if date else "",
            }
        )
    found.sort(key=lambda m: m["_sort"], reverse=True)
    return [{k: v for k, v in m.items() if k != "_sort"} for m in found[:limit]]
