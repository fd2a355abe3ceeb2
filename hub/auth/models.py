"""Tables owned by hub authentication: API clients and local accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.models import NAMING


class HubBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ClientRow(HubBase):
    """A bank or agency system calling the API. The secret is stored only as an Argon2 hash."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    org: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))
    statutes: Mapped[list[Any]] = mapped_column(JSON)
    redirect_uris: Mapped[list[Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountRow(HubBase):
    """A person signing in to the web apps: official, auditor or resident.

    A resident account holds the keyed commitment of their resident number (to find their audit entries) and
    the number encrypted under a key in KEY_DIR (to look up their own documents); never the number in clear.
    """

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    org: Mapped[str | None] = mapped_column(String(200))
    subject_commitment: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_number_enc: Mapped[str | None] = mapped_column(String(200))
    # Where notices go besides the inbox (none: the inbox only), and the language they are written in.
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
