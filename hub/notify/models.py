"""Tables owned by the notify package: the outbox, which is also the inbox.

One row per message per channel, as GOV.UK Notify keeps a status per message and channel. The inbox is not a
second table: an inbox message *is* the delivered outbox row of channel ``inbox`` (plus ``read_at``). A copy
into a separate table would be a second write per delivery and a second place for the same message to
disagree with itself; the status the worker sets is exactly what makes a message visible to its resident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING

BigId = BigInteger().with_variant(Integer(), "sqlite")

CREATED: Final = "created"
SENDING: Final = "sending"
DELIVERED: Final = "delivered"
TEMPORARY_FAILURE: Final = "temporary-failure"
PERMANENT_FAILURE: Final = "permanent-failure"
# A message in one of these is waiting for a worker (once its ``next_attempt_at`` has come).
WAITING: Final = (CREATED, TEMPORARY_FAILURE)


class NotifyBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OutboxRow(NotifyBase):
    """One message to one recipient through one channel, from ``created`` to delivered or dead.

    ``seq`` orders the inbox and is its paging cursor; ``message_id`` is the stable id a receiver uses to drop
    the duplicates at-least-once delivery can produce. The recipient is the event's subject commitment;
    ``account_id`` is resolved by the worker at delivery time (the lookup's transaction, the hot path, gets
    no extra query). A notice to a staff account (an official, a privacy officer, an auditor) has no subject
    commitment: it is addressed by ``account_id`` from the start (``outbox.announce_staff``). ``params``
    holds what the text needs (who, which document, the outcome): texts are rendered when read, in the
    reader's language. ``code_hash`` is the SHA-256 of the message's verification code, written at delivery;
    the code itself is never stored.
    """

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    subject_commitment: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        # Exactly one message per event, channel and recipient, even if an event were announced twice.
        UniqueConstraint("event_id", "channel", "subject_commitment", name="uq_outbox_event_channel_subject"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_inbox", "subject_commitment", "channel", "status", "seq"),
        # Notices to staff accounts (no subject commitment, addressed by ``account_id``: an official's
        # deadline alert, a privacy officer's new dispute): one per event, channel and account, and their
        # inbox. Partial, so the residents' rows (the lookup's hot path) add nothing to either index.
        Index(
            "uq_outbox_staff_event_channel_account",
            "event_id",
            "channel",
            "account_id",
            unique=True,
            sqlite_where=text("subject_commitment IS NULL"),
            postgresql_where=text("subject_commitment IS NULL"),
        ),
        Index(
            "ix_outbox_staff_inbox",
            "account_id",
            "channel",
            "status",
            "seq",
            sqlite_where=text("subject_commitment IS NULL"),
            postgresql_where=text("subject_commitment IS NULL"),
        ),
    )


class WebhookRow(NotifyBase):
    """A client system's endpoint for consent events, with its signing secret sealed under the data key.

    The secret must be readable to sign each delivery (Standard Webhooks signs with HMAC, a shared secret),
    so it cannot be stored as a hash like a client's API secret; it is sealed (AES-256-GCM) instead, as the
    resident numbers are, and shown in clear once, when registered. One active endpoint per client: a new
    registration replaces the old one (and its secret), which is also how a leaked secret is rotated.
    """

    __tablename__ = "webhooks"

    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_sealed: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PreferenceRow(NotifyBase):
    """A resident's choices about e-mail: which kinds of notice, a quiet-hours window and a daily digest.

    One row per resident account, absent until the resident first saves (absent means the defaults: every
    group on, no quiet hours, no digest). The inbox is not configurable: it is the record the resident can
    always read. Times are minutes after midnight in Korean time (KST, UTC+9, no daylight saving), the clock
    residents live by, so "22:00-07:00" means the same hours all year.
    """

    __tablename__ = "notify_preferences"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email_accesses: Mapped[bool] = mapped_column(Boolean, default=True)
    email_consents: Mapped[bool] = mapped_column(Boolean, default=True)
    email_mandates: Mapped[bool] = mapped_column(Boolean, default=True)
    email_documents: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[int | None] = mapped_column(Integer)  # minutes after 00:00 KST
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    digest_hour: Mapped[int | None] = mapped_column(Integer)  # 0-23 KST; None sends each notice on its own
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
