"""audit: audit_cosignatures, the witnesses' cosignatures on the log's checkpoints (c2sp.org/tlog-witness)

One row per witness and tree size, holding the cosignature line the hub appends to that checkpoint's note; the
index finds the newest size each witness cosigned, where the hub's next submission to it starts.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_cosignatures",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "witness", "key_id", name=op.f("pk_audit_cosignatures")),
    )
    op.create_index(
        "ix_audit_cosignatures_witness",
        "audit_cosignatures",
        ["witness", "key_id", "tree_size"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_cosignatures_witness", table_name="audit_cosignatures")
    op.drop_table("audit_cosignatures")
