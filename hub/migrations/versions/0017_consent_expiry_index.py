"""consent: an index on consents.expires_at for the notice sweep (hub/notify/sweep.py)

The sweep asks, about once a minute, for consents expiring within three days and for those expired since
its last pass (``consent.repository.due_transitions``); both are range conditions on ``expires_at``, which
without an index are a scan of every consent ever granted.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 14:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_consents_expires_at", "consents", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_consents_expires_at", table_name="consents")
