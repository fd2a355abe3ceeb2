"""audit: what the log needs at national scale: a resident's newest entries straight from an index

A resident's history is their newest entries in append order (``ORDER BY seq DESC LIMIT 21`` for one
subject commitment). With only ``(subject_commitment, occurred_at)`` to go by, PostgreSQL read every entry of
the resident and sorted them; ``(subject_commitment, seq)`` hands it the newest page directly however long
the resident's history or the log grows. Tiles need no table: they are ranges of ``audit_nodes``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_subject_seq", "audit_events", ["subject_commitment", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject_seq", table_name="audit_events")
