"""The open statistics' tables: one row per day and cell, and one row per day that has been counted.

They belong to the audit package (they are derived from ``audit_events`` and from nothing else) and share its
declarative base, so the one Alembic history and ``alembic check`` see them with the log's own tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from audit.models import AuditBase


class LookupStatRow(AuditBase):
    """How many lookups one day saw for one (organisation, document type, basis kind, outcome).

    The exact count is stored; suppression of small cells is applied when the numbers are published, so
    changing the rule never needs a recount. ``''`` stands for "none" in a key column (a resident's own read
    has no organisation, a malformed request no document type), because a primary key cannot hold NULL.
    """

    __tablename__ = "lookup_stats"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    organisation: Mapped[str] = mapped_column(String(128), primary_key=True)
    document_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    basis_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    lookups: Mapped[int] = mapped_column(BigInteger)


class LookupStatDayRow(AuditBase):
    """A day that has been counted, and against which log: every event of the day is below ``tree_size``.

    A day without any lookup still gets its row, so "counted, nothing happened" differs from "not counted
    yet". ``lookups`` (the day's total) is kept for operators and tests; it is never published, since a
    total beside suppressed cells would give them away.
    """

    __tablename__ = "lookup_stat_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    lookups: Mapped[int] = mapped_column(BigInteger)
    cells: Mapped[int] = mapped_column(Integer)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
