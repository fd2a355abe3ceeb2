"""Tables owned by the consent package. Nothing outside ``consent`` reads or writes them directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ConsentBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ConsentRequestRow(ConsentBase):
    """A request for a resident's consent: pending until the resident (or their agent) decides."""

    __tablename__ = "consent_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requester_kind: Mapped[str] = mapped_column(String(16))  # client | official
    requester_id: Mapped[str] = mapped_column(String(64))
    recipient_org: Mapped[str] = mapped_column(String(200))
    subject_commitment: Mapped[str | None] = mapped_column(String(64))  # None: whoever signs in
    documents: Mapped[list[Any]] = mapped_column(JSON)  # [{"document_type": ..., "view": ...}]
    purpose_code: Mapped[str] = mapped_column(String(64))
    purpose_text: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))  # one_time | standing
    consent_days: Mapped[int] = mapped_column(Integer)
    max_uses: Mapped[int] = mapped_column(Integer)
    redirect_uri: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | expired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the *request* lapses
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(36))
    consent_id: Mapped[str | None] = mapped_column(String(36))
    open_token_hash: Mapped[str | None] = mapped_column(String(64))  # single-use counter QR link
    # Counter requests only: the hash of the binding cookie set on the browser that opened the QR link, and
    # the resident account that first viewed or decided the request there. Only that browser (and account)
    # may view or decide it, so whoever sees the QR code over a shoulder cannot approve with their identity.
    opened_by_hash: Mapped[str | None] = mapped_column(String(64))
    bound_account_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_consent_requests_requester", "requester_id", "created_at"),)


class ConsentRow(ConsentBase):
    """A granted consent. Its lifecycle state is derived from ``consent_events``, time and the use count."""

    __tablename__ = "consents"

    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36))
    subject_commitment: Mapped[str] = mapped_column(String(64), index=True)
    subject_sealed: Mapped[str] = mapped_column(String(200))  # AES-GCM; the agency needs the number
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient_org: Mapped[str] = mapped_column(String(200))
    documents: Mapped[list[Any]] = mapped_column(JSON)
    purpose_code: Mapped[str] = mapped_column(String(64))
    purpose_text: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int] = mapped_column(Integer)  # per named document
    uses: Mapped[int] = mapped_column(Integer, default=0)  # over all documents
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    granted_by: Mapped[str] = mapped_column(String(36))  # the account that approved (resident or agent)
    mandate_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # active | paused | revoked, kept with the events so that a use can re-check it in its own UPDATE.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")

    # The notice sweep scans consents by expiry (due within three days, expired since the last sweep).
    __table_args__ = (Index("ix_consents_expires_at", "expires_at"),)


class ConsentRequestNoticeRow(ConsentBase):
    """A consent request announced to one resident: at most once per request and resident.

    A bank's request names nobody until it is decided, and a counter's is bound only when its link is
    opened, so the resident is told of a request when they first open it signed in. The primary key is what
    makes that announcement happen once, even when two tabs open the request at the same moment.
    """

    __tablename__ = "consent_request_notices"

    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consent_requests.request_id"), primary_key=True
    )
    subject_commitment: Mapped[str] = mapped_column(String(64), primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentUseRow(ConsentBase):
    """Uses of one named document under one consent: ``max_uses`` is a per-document limit."""

    __tablename__ = "consent_uses"

    consent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consents.consent_id"), primary_key=True
    )
    document_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    view: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class ConsentEventRow(ConsentBase):
    """Append-only lifecycle record (ISO/IEC 27560 style): recorded, paused, resumed, revoked, used."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consents.consent_id"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_consent_events_consent", "consent_id", "id"),)


class ConsentReceiptRow(ConsentBase):
    """Signed receipts handed to the resident (one per approval and per revocation)."""

    __tablename__ = "consent_receipts"

    receipt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consents.consent_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # approved | revoked
    jws: Mapped[str] = mapped_column(String(8000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MandateRow(ConsentBase):
    """Power of attorney: the agent may approve requests and request documents for the principal."""

    __tablename__ = "mandates"

    mandate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_account_id: Mapped[str] = mapped_column(String(36), index=True)
    principal_commitment: Mapped[str] = mapped_column(String(64))
    principal_sealed: Mapped[str] = mapped_column(String(200))
    agent_account_id: Mapped[str] = mapped_column(String(36), index=True)
    document_types: Mapped[list[Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
