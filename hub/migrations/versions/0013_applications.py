"""applications: civil application cases, their steps and drafts (hub/applications/)

Cases (``applications``) with their history (``application_steps``), drafts being filled, counter form
sessions (the QR an official opens for one form) and the department each official account works in. Resident
numbers in answers are sealed; the applicant is known by account and subject commitment only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("case_number", sa.String(32), nullable=False),
        sa.Column("form_type", sa.String(64), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("applicant_account_id", sa.String(36), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("prefilled", sa.JSON(), nullable=False),
        sa.Column("counter_session_id", sa.String(36), nullable=True),
        sa.Column("assignee_account_id", sa.String(36), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(1000), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("application_id", name="pk_applications"),
        sa.UniqueConstraint("case_number", name="uq_applications_case_number"),
    )
    for column in ("form_type", "department", "status", "applicant_account_id", "subject_commitment"):
        op.create_index(f"ix_applications_{column}", "applications", [column])
    op.create_index("ix_applications_counter_session_id", "applications", ["counter_session_id"])
    op.create_index("ix_applications_due_on", "applications", ["due_on"])

    op.create_table(
        "application_steps",
        sa.Column("seq", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("audit_event_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_application_steps"),
    )
    op.create_index("ix_application_steps_application_id", "application_steps", ["application_id"])

    op.create_table(
        "application_drafts",
        sa.Column("draft_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("form_type", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("prefilled", sa.JSON(), nullable=False),
        sa.Column("counter_session_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("draft_id", name="pk_application_drafts"),
    )
    op.create_index("ix_application_drafts_account_id", "application_drafts", ["account_id"])

    op.create_table(
        "application_form_sessions",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("official_account_id", sa.String(36), nullable=False),
        sa.Column("form_type", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("resident_account_id", sa.String(36), nullable=True),
        sa.Column("application_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_application_form_sessions"),
    )
    op.create_index(
        "ix_application_form_sessions_official_account_id",
        "application_form_sessions",
        ["official_account_id"],
    )

    op.create_table(
        "official_departments",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_official_departments"),
    )
    op.create_index("ix_official_departments_department", "official_departments", ["department"])


def downgrade() -> None:
    op.drop_index("ix_official_departments_department", table_name="official_departments")
    op.drop_table("official_departments")
    op.drop_index("ix_application_form_sessions_official_account_id", table_name="application_form_sessions")
    op.drop_table("application_form_sessions")
    op.drop_index("ix_application_drafts_account_id", table_name="application_drafts")
    op.drop_table("application_drafts")
    op.drop_index("ix_application_steps_application_id", table_name="application_steps")
    op.drop_table("application_steps")
    op.drop_index("ix_applications_due_on", table_name="applications")
    op.drop_index("ix_applications_counter_session_id", table_name="applications")
    for column in ("form_type", "department", "status", "applicant_account_id", "subject_commitment"):
        op.drop_index(f"ix_applications_{column}", table_name="applications")
    op.drop_table("applications")
