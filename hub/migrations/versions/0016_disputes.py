"""applications: disputes of an access (hub/applications/disputes.py)

``access_disputes``: a resident's "I did not expect this access" about one entry of their access history,
routed to the privacy officers of the organisation that made the access (the entry's ``actor_org``), with the
entry's leaf and inclusion proof as filed. One dispute per log entry (``leaf_index`` is unique), so the same
entry cannot be disputed twice, even by two requests at once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BIG_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_disputes",
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("leaf_index", _BIG_INT, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("resident_account_id", sa.String(36), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("proof", sa.JSON(), nullable=False),
        sa.Column("answer", sa.String(2000), nullable=True),
        sa.Column("answer_basis", sa.String(200), nullable=True),
        sa.Column("answered_by", sa.String(36), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("dispute_id", name="pk_access_disputes"),
        sa.UniqueConstraint("leaf_index", name="uq_access_disputes_leaf_index"),
    )
    for column in ("resident_account_id", "org", "status"):
        op.create_index(f"ix_access_disputes_{column}", "access_disputes", [column])


def downgrade() -> None:
    for column in ("status", "org", "resident_account_id"):
        op.drop_index(f"ix_access_disputes_{column}", table_name="access_disputes")
    op.drop_table("access_disputes")
