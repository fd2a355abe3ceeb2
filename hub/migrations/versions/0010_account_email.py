"""accounts: an optional e-mail address and preferred language (notifications by e-mail)

A resident who gives an address hears of each event by e-mail too (``hub/notify/email.py``), in the language
they chose; without one, the inbox alone carries the notice. Both nullable: existing accounts keep working.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("language")
        batch.drop_column("email")
