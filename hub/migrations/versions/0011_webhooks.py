"""webhooks: client systems' endpoints for consent events (``hub/notify/webhooks.py``)

The signing secret is sealed under the hub's data key (it must be readable to sign), never stored in clear.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret_sealed", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_client_id", "webhooks", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_webhooks_client_id", table_name="webhooks")
    op.drop_table("webhooks")
