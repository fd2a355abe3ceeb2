"""staff notices: deadline alerts of the case officials and the outbox's rows addressed to staff accounts

``case_deadline_alerts`` holds one row per alert the deadline sweep sent
(``hub.applications.deadline_sweep``): a case, a stage (two business days before, on the day, overdue) and
the due date it was computed from; its primary key is what makes each alert happen once, also when two
workers sweep at once.

Officials, privacy officers and auditors have no subject commitment: their notices are outbox rows addressed
by ``account_id``. Two partial indexes (``subject_commitment IS NULL``) serve them: one event, channel and
account at most once (the residents' rows have ``uq_outbox_event_channel_subject``), and the staff inbox's
listing and unread count. Being partial, neither grows with the residents' notices.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STAFF_ROWS = sa.text("subject_commitment IS NULL")


def upgrade() -> None:
    op.create_table(
        "case_deadline_alerts",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("audit_event_id", sa.String(36), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "stage", "due_on", name=op.f("pk_case_deadline_alerts")),
    )
    op.create_index(
        "uq_outbox_staff_event_channel_account",
        "outbox",
        ["event_id", "channel", "account_id"],
        unique=True,
        sqlite_where=STAFF_ROWS,
        postgresql_where=STAFF_ROWS,
    )
    op.create_index(
        "ix_outbox_staff_inbox",
        "outbox",
        ["account_id", "channel", "status", "seq"],
        sqlite_where=STAFF_ROWS,
        postgresql_where=STAFF_ROWS,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_staff_inbox", table_name="outbox")
    op.drop_index("uq_outbox_staff_event_channel_account", table_name="outbox")
    op.drop_table("case_deadline_alerts")
