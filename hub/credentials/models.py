"""The credentials' tables (migration 0022): one row per issued credential, and the key-binding replay cache.

A credential's content is never stored: the resident holds it. The hub keeps what it needs to revoke it (its
status list index, who it was issued to) and what the resident's list of credentials shows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING


class CredentialsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CredentialRow(CredentialsBase):
    """One issued SD-JWT VC: its status list entry, its holder's key thumbprint, and the audit events."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("status_list", "status_idx", name="uq_credentials_status_entry"),)

    credential_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_commitment: Mapped[str] = mapped_column(String(64))
    document_type: Mapped[str] = mapped_column(String(64))
    view: Mapped[str] = mapped_column(String(64))
    # Which status list (a path segment of its URI) and which bit of it; drawn at random, never reused.
    status_list: Mapped[str] = mapped_column(String(16))
    status_idx: Mapped[int] = mapped_column(Integer)
    holder_thumbprint: Mapped[str] = mapped_column(String(64))  # RFC 7638 thumbprint of cnf.jwk
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    audit_event_id: Mapped[str] = mapped_column(String(36))
    revoke_event_id: Mapped[str | None] = mapped_column(String(36))


class KeyBindingReplayRow(CredentialsBase):
    """A key-binding JWT already accepted: its hash is refused until it would be too old to accept anyway."""

    __tablename__ = "credential_kb_replays"

    kb_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
