"""The issuance package's own table. Nothing outside ``hub.issuance`` reads or writes it.

Content (the released fields, the QR payloads and the signed PDF) is kept only within the document's retention
window, encrypted under the hub's data key (AES-256-GCM, the issuance id as associated data), so a database
dump alone reveals no document; after the window only metadata stays (``content_enc``/``pdf_enc`` are nulled).
No resident number is stored: the subject is the audit log's keyed commitment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING


class IssuanceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IssuanceRow(IssuanceBase):
    """One issued e-document. ``status``: pending → valid → revoked, or pending → failed."""

    __tablename__ = "issuances"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    issuance_id: Mapped[str] = mapped_column(String(36), unique=True)
    document_type: Mapped[str] = mapped_column(String(64))
    view: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retain_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject_commitment: Mapped[str] = mapped_column(String(64))
    requester_kind: Mapped[str] = mapped_column(String(16))
    requester_id: Mapped[str] = mapped_column(String(64))
    requester_org: Mapped[str | None] = mapped_column(String(200))
    basis: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    kid: Mapped[str | None] = mapped_column(String(32))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    lookup_event_id: Mapped[str | None] = mapped_column(String(36))
    audit_event_id: Mapped[str | None] = mapped_column(String(36))
    content_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revocation_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_issuances_subject_time", "subject_commitment", "issued_at"),
        Index("ix_issuances_retain_until", "retain_until"),
        Index("ix_issuances_requester", "requester_id", "issued_at"),
    )
