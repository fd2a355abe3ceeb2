"""Reading notices: an inbox (paged, unread count, mark read) and the public check of a code.

The inbox is the delivered outbox rows of channel ``inbox`` for the reader: a resident by their subject
commitment, a staff account (:class:`Staff`: an official, a privacy officer, an auditor) by its account id,
on rows that have no subject commitment, so neither kind of reader can ever see the other's notices. Texts are
rendered here, when read, in the reader's language (catalog domain ``notify``): accounts carry no language of
their own yet, so the language of the request that reads them is the best one the hub knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import iso, utcnow
from hub import i18n
from hub.notify import codes
from hub.notify.models import DELIVERED, OutboxRow
from hub.notify.outbox import INBOX

DOMAIN = "notify"
# Kinds whose refused or failed attempts read differently from the allowed ones.
_REFUSABLE = frozenset({"lookup", "preview", "issuance", "verification"})


@dataclass(frozen=True)
class Staff:
    """A staff account as the reader of an inbox (its notices are addressed by account id)."""

    account_id: str


# Whose inbox: a resident's subject commitment, or a staff account.
Recipient = str | Staff
# What a staff notice points at (``outbox.announce_staff``'s routes put these in its params).
_TARGETS = ("application_id", "case_number", "due_on", "dispute_id")


@dataclass(frozen=True)
class InboxPage:
    items: list[OutboxRow]
    unread: int
    next_cursor: str | None


def _mine(recipient: Recipient) -> Any:
    whose: Any
    if isinstance(recipient, Staff):
        whose = (OutboxRow.account_id == recipient.account_id) & OutboxRow.subject_commitment.is_(None)
    else:
        whose = OutboxRow.subject_commitment == recipient
    return whose & (OutboxRow.channel == INBOX) & (OutboxRow.status == DELIVERED)


async def unread_count(session: AsyncSession, subject_commitment: Recipient) -> int:
    found = await session.execute(
        select(func.count())
        .select_from(OutboxRow)
        .where(_mine(subject_commitment), OutboxRow.read_at.is_(None))
    )
    return int(found.scalar_one())


async def page(
    session: AsyncSession,
    subject_commitment: Recipient,
    *,
    cursor: str | None = None,
    limit: int = 20,
    unread_only: bool = False,
) -> InboxPage:
    """Newest first; ``cursor`` is the ``next_cursor`` of the previous page. ``ValueError``: a bad cursor."""
    query = select(OutboxRow).where(_mine(subject_commitment))
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 19:
            raise ValueError("cursor")
        query = query.where(OutboxRow.seq < int(cursor))
    if unread_only:
        query = query.where(OutboxRow.read_at.is_(None))
    rows = list((await session.execute(query.order_by(OutboxRow.seq.desc()).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(
        items=rows,
        unread=await unread_count(session, subject_commitment),
        next_cursor=str(rows[-1].seq) if more and rows else None,
    )


async def mark_read(session: AsyncSession, subject_commitment: Recipient, message_id: str) -> datetime | None:
    """Mark one of my notices read (a second time keeps the first moment); None if it is not mine.

    Not an audit event: reading one's own notice discloses nothing to anyone.
    """
    row = (
        await session.execute(
            select(OutboxRow).where(_mine(subject_commitment), OutboxRow.message_id == message_id)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.read_at is None:
        now = utcnow()
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.seq == row.seq, OutboxRow.read_at.is_(None))
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        return now
    return _aware(row.read_at)


async def verify(session: AsyncSession, code: str) -> dict[str, Any]:
    """Did the hub send a message with this code: when, through which channel, of what kind.

    Never who it was for, nor what it said: a code read out by a stranger reveals no personal content.
    """
    digest = codes.code_hash(code)
    if digest is None:
        return {"genuine": False}
    row = (
        await session.execute(
            select(OutboxRow.kind, OutboxRow.channel, OutboxRow.delivered_at).where(
                OutboxRow.code_hash == digest, OutboxRow.status == DELIVERED
            )
        )
    ).one_or_none()
    if row is None or row.delivered_at is None:
        return {"genuine": False}
    return {"genuine": True, "sent_at": iso(row.delivered_at), "channel": row.channel, "kind": row.kind}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment


def variant(kind: str, params: dict[str, Any]) -> str:
    """Which wording of ``kind`` fits: a lookup under my consent says the consent was used; a decision my
    agent made says it was made under my mandate; the agent a mandate was granted to is told so; a staff
    account reads of its work (a dispute filed reads differently to the officer who answers it)."""
    via = params.get("via")
    if params.get("audience") == "staff":  # an official's, an officer's or an auditor's notice of their work
        return ".staff"
    if kind == "lookup" and via == "consent":
        return ".consent"
    if kind in {"consent_approve", "consent_deny"} and via == "mandate":
        return ".mandate"
    if kind == "mandate_grant" and params.get("role") == "agent":
        return ".agent"
    return ""


def text(lang: str, kind: str, params: dict[str, Any], document_title: Callable[[str | None], str]) -> str:
    """The notice's sentence in ``lang``: who did what with which of my documents."""
    outcome = "ok" if params.get("outcome") == "ok" or kind not in _REFUSABLE else "refused"
    if params.get("actor_org"):
        who = str(params["actor_org"])
    elif params.get("actor_kind") == "resident":
        who = i18n.gettext(lang, DOMAIN, "notify.who.you")
    else:
        who = i18n.gettext(lang, DOMAIN, "notify.who.someone")
    org = str(params.get("recipient_org") or i18n.gettext(lang, DOMAIN, "notify.who.someone"))
    document = params.get("document_type")
    title = document_title(document) if document else i18n.gettext(lang, DOMAIN, "notify.document.records")
    key = f"notify.{kind}{variant(kind, params)}.{outcome}"
    # A staff notice names its case (number, due date); the others ignore these.
    case, due = str(params.get("case_number") or ""), str(params.get("due_on") or "")
    return i18n.gettext(lang, DOMAIN, key).format(who=who, document=title, org=org, case=case, due=due)


def as_json(
    row: OutboxRow, lang: str, code_key: bytes, document_title: Callable[[str | None], str]
) -> dict[str, Any]:
    """One notice as the API and the portal show it, with its verification code (derived, never stored)."""
    delivered = _aware(row.delivered_at)
    read = _aware(row.read_at)
    occurred = row.params.get("occurred_at")
    return {
        "id": row.message_id,
        "kind": row.kind,
        "outcome": row.params.get("outcome"),
        "text": text(lang, row.kind, row.params, document_title),
        "occurred_at": iso(datetime.fromisoformat(occurred)) if occurred else None,
        "sent_at": iso(delivered) if delivered else None,
        "read_at": iso(read) if read else None,
        "code": codes.notice_code(code_key, row.message_id),
        **{key: row.params[key] for key in _TARGETS if row.params.get(key) is not None},
    }
