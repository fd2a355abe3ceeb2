"""applications: attachments and scans encrypted at rest, and the offline hand-off's replay guard

``application_files`` (hub/applications/files.py): one row per stored file of a case, with the file's
plaintext SHA-256 and its own key wrapped by the master key in the key directory (the content is on disk,
encrypted; never in the database). ``handoff_replays`` (hub/applications/handoff.py): hand-off QR codes
already decoded, kept until they expire.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_files",
        sa.Column("file_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(40), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file_id", name="pk_application_files"),
    )
    op.create_index("ix_application_files_case_id", "application_files", ["case_id"])
    op.create_index("ix_application_files_retain_until", "application_files", ["retain_until"])
    op.create_table(
        "handoff_replays",
        sa.Column("jti", sa.String(36), nullable=False),
        sa.Column("counter_id", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_handoff_replays"),
    )
    op.create_index("ix_handoff_replays_expires_at", "handoff_replays", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_handoff_replays_expires_at", table_name="handoff_replays")
    op.drop_table("handoff_replays")
    op.drop_index("ix_application_files_retain_until", table_name="application_files")
    op.drop_index("ix_application_files_case_id", table_name="application_files")
    op.drop_table("application_files")
