"""counter consent requests bound to the browser (and resident) that opened their QR link

A counter request's QR code can be seen by anyone near the desk. Opening the single-use link now stores the
hash of a random binding secret the opening browser keeps as a cookie (``opened_by_hash``), and the first
resident account seen there (``bound_account_id``); only that browser and account may view or decide the
request. Both are nullable: bank requests never use them, and a counter request still pending from before
this migration has no binding, so it can no longer be decided and needs a new QR code (fail closed; such
requests lapse within 15 minutes anyway).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("opened_by_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("bound_account_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_requests") as batch:
        batch.drop_column("bound_account_id")
        batch.drop_column("opened_by_hash")
