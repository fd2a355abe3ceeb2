"""audit: lookup_stats and lookup_stat_days, the daily aggregate behind the open statistics (/stats)

One row per day × organisation × document type × basis kind × outcome, filled once the day is over and the
log's checkpoint covers it (``audit.stats``), so publishing reads a few thousand rows instead of grouping the
whole log. ``lookup_stat_days`` says which days are counted and against which tree size.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookup_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organisation", sa.String(128), nullable=False),
        sa.Column("document_type", sa.String(64), nullable=False),
        sa.Column("basis_kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("lookups", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "organisation", "document_type", "basis_kind", "outcome", name=op.f("pk_lookup_stats")
        ),
    )
    op.create_table(
        "lookup_stat_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lookups", sa.BigInteger(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_lookup_stat_days")),
    )


def downgrade() -> None:
    op.drop_table("lookup_stat_days")
    op.drop_table("lookup_stats")
