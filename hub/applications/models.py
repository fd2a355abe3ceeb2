"""Tables owned by hub.applications: cases, steps, drafts, counter form sessions, officials' departments.

Answers are stored as the form's field values, except resident numbers, which are sealed under the hub's
data key (``NumberSealer``, like a resident account's own number) and shown masked; the applicant is found by
their subject commitment, never by their number.

Officials' departments live here (``official_departments``) rather than as a column of ``accounts``: the
accounts table belongs to hub.auth, and a department only means something to the case queue.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ApplicationsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ApplicationRow(ApplicationsBase):
    """One submitted application and where its case stands."""

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    form_type: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    applicant_account_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_commitment: Mapped[str] = mapped_column(String(64), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # form field -> "document_type/view/source" for each value taken from a shared document
    prefilled: Mapped[dict[str, Any]] = mapped_column(JSON)
    counter_session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    assignee_account_id: Mapped[str | None] = mapped_column(String(36))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(1000))
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A proxy application: the mandate the agent filed under and the principal it names (their subject
    # commitment, and their name as the mandate's principal account showed it when filed).
    mandate_id: Mapped[str | None] = mapped_column(String(36))
    principal_commitment: Mapped[str | None] = mapped_column(String(64))
    principal_name: Mapped[str | None] = mapped_column(String(200))
    # The deadline pauses while the applicant supplements (보완 기간은 처리기간에 산입하지 않는다): the Korean
    # date the pause began while it lasts, and the business days added to ``due_on`` by the pauses so far.
    paused_on: Mapped[date | None] = mapped_column(Date)
    paused_business_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StepRow(ApplicationsBase):
    """One step of a case's history: who moved it from which state to which, when, and why."""

    __tablename__ = "application_steps"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(String(36), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(2000))
    due_on: Mapped[date | None] = mapped_column(Date)
    audit_event_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DraftRow(ApplicationsBase):
    """A form being filled: kept between visits, removed when it is submitted."""

    __tablename__ = "application_drafts"

    draft_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    form_type: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    prefilled: Mapped[dict[str, Any]] = mapped_column(JSON)
    counter_session_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FormSessionRow(ApplicationsBase):
    """A counter official's form session: a QR for one form, bound to the first resident who opens it."""

    __tablename__ = "application_form_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    official_account_id: Mapped[str] = mapped_column(String(36), index=True)
    form_type: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))
    resident_account_id: Mapped[str | None] = mapped_column(String(36))
    application_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OfficialDepartmentRow(ApplicationsBase):
    """Which department an official account works in: the cases it may see and move."""

    __tablename__ = "official_departments"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdempotencyKeyRow(ApplicationsBase):
    """An ``Idempotency-Key`` of ``POST /v1/me/applications`` (IETF httpapi-idempotency-key-header): the first
    request with it claims the row (committed before any work, so a duplicate running beside it sees the
    claim), and the row keeps that request's response, written in the transaction that made the case, to be
    given again to a retry of the same body for 24 hours.
    """

    __tablename__ = "application_idempotency_keys"

    account_id: Mapped[str] = mapped_column(String(36))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # keyed HMAC-SHA256 of the canonical request body
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first request is in flight
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        PrimaryKeyConstraint("account_id", "idempotency_key"),
        Index("ix_application_idempotency_keys_expires_at", "expires_at"),
    )
