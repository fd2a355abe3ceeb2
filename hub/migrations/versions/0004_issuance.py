"""issuance: stamped e-documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuances",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("issuance_id", sa.String(length=36), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("view", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_commitment", sa.String(length=64), nullable=False),
        sa.Column("requester_kind", sa.String(length=16), nullable=False),
        sa.Column("requester_id", sa.String(length=64), nullable=False),
        sa.Column("requester_org", sa.String(length=200), nullable=True),
        sa.Column("basis", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kid", sa.String(length=32), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("lookup_event_id", sa.String(length=36), nullable=True),
        sa.Column("audit_event_id", sa.String(length=36), nullable=True),
        sa.Column("content_enc", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_enc", sa.LargeBinary(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revocation_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_issuances")),
        sa.UniqueConstraint("issuance_id", name=op.f("uq_issuances_issuance_id")),
    )
    op.create_index("ix_issuances_retain_until", "issuances", ["retain_until"], unique=False)
    op.create_index(
        "ix_issuances_subject_time", "issuances", ["subject_commitment", "issued_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_issuances_subject_time", table_name="issuances")
    op.drop_index("ix_issuances_retain_until", table_name="issuances")
    op.drop_table("issuances")
