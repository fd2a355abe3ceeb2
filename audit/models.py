"""The audit package's own tables. Nothing outside ``audit`` reads or writes them directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs a 64-bit sequence for a long-lived log.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AuditEventRow(AuditBase):
    """One access attempt. Append-only: rows are inserted, never updated except to set ``leaf_index``."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_org: Mapped[str | None] = mapped_column(String(128))
    subject_commitment: Mapped[str | None] = mapped_column(String(64))
    document_type: Mapped[str | None] = mapped_column(String(64))
    view: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[list[Any]] = mapped_column(JSON)
    purpose_code: Mapped[str | None] = mapped_column(String(64))
    purpose_text: Mapped[str | None] = mapped_column(String(500))
    basis: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    visible_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_audit_events_subject_time", "subject_commitment", "occurred_at"),
        Index("ix_audit_events_subject_seq", "subject_commitment", "seq"),  # a resident's newest (0014)
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )


class AuditNodeRow(AuditBase):
    """Hash of the complete subtree of 2**level leaves starting at leaf ``idx * 2**level`` (RFC 9162 §2.1.1).

    Level 0 holds the leaf hashes. Any proof reads O(log n) of these rows, and nothing is ever rewritten: a
    node is written once, when its subtree becomes complete.
    """

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(AuditBase):
    """Every signed checkpoint ever published, so a consistency proof exists between any two."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditCosignatureRow(AuditBase):
    """A witness's cosignature on one checkpoint (c2sp.org/tlog-cosignature), kept verbatim as its note line.

    Served appended to the checkpoint's note; a witness's newest row is where the next submission to it
    starts (its consistency proof runs from that size). Rows are only inserted, once per witness and size.
    """

    __tablename__ = "audit_cosignatures"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # hex, as in the witness's vkey
    line: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[int] = mapped_column(BigInteger)  # the witness's timestamp (POSIX seconds)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_audit_cosignatures_witness", "witness", "key_id", "tree_size"),)
