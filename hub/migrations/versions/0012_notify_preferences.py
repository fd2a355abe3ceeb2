"""notify: residents' channel choices per event kind, quiet hours and digest (hub/notify/preferences.py)

One row per resident account (``account_id`` is the key, so reading it beside the account in the event's
transaction is a primary-key join, not another query). No row means the defaults: e-mail for every group, no
quiet hours, no digest.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_preferences",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("email_accesses", sa.Boolean(), nullable=False),
        sa.Column("email_consents", sa.Boolean(), nullable=False),
        sa.Column("email_mandates", sa.Boolean(), nullable=False),
        sa.Column("email_documents", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=True),
        sa.Column("quiet_end", sa.Integer(), nullable=True),
        sa.Column("digest_hour", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_notify_preferences"),
    )


def downgrade() -> None:
    op.drop_table("notify_preferences")
