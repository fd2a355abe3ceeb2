"""applications: idempotency keys, the supplementation pause, proxies' principals, retention from a case's end

- ``application_idempotency_keys``: the ``Idempotency-Key`` of ``POST /v1/me/applications``, per account, with
  the first request's body fingerprint and (once it finished) its response, kept 24 hours.
- ``applications.paused_on`` / ``paused_business_days``: the deadline does not run while the applicant
  supplements; ``due_on`` moves later by the business days paused.
- ``applications.mandate_id`` / ``principal_commitment`` / ``principal_name``: whom a proxy application is
  for, and under which mandate (the seal is taken only from an agent holding a live mandate from them).
- ``application_files.retain_until`` becomes NULL-able: NULL while the case is open; the move that ends a case
  starts its files' retention. Existing rows are brought to that rule: files of open cases get NULL, files of
  ended cases keep the same retention length counted from the case's end instead of the upload.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_ENDED = ("completed", "withdrawn")


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def upgrade() -> None:
    op.create_table(
        "application_idempotency_keys",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "idempotency_key", name="pk_application_idempotency_keys"),
    )
    op.create_index(
        "ix_application_idempotency_keys_expires_at", "application_idempotency_keys", ["expires_at"]
    )
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("mandate_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("principal_commitment", sa.String(64), nullable=True))
        batch.add_column(sa.Column("principal_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("paused_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("paused_business_days", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("application_files") as batch:
        batch.alter_column("retain_until", existing_type=sa.DateTime(timezone=True), nullable=True)

    bind = op.get_bind()
    files = sa.table(
        "application_files",
        sa.column("file_id", sa.String),
        sa.column("case_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("retain_until", sa.DateTime(timezone=True)),
    )
    cases = sa.table(
        "applications",
        sa.column("application_id", sa.String),
        sa.column("status", sa.String),
        sa.column("completed_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    rows = bind.execute(
        sa.select(
            files.c.file_id,
            files.c.created_at,
            files.c.retain_until,
            cases.c.status,
            cases.c.completed_at,
            cases.c.updated_at,
        ).select_from(files.join(cases, files.c.case_id == cases.c.application_id))
    ).all()
    for row in rows:
        if row.status not in _ENDED:
            until = None
        else:
            ended = _aware(row.completed_at or row.updated_at)
            until = ended + (_aware(row.retain_until) - _aware(row.created_at))
        bind.execute(sa.update(files).where(files.c.file_id == row.file_id).values(retain_until=until))


def downgrade() -> None:
    # Open cases' files get back a date (their upload plus ten years, the longest retention a form has) so
    # the NOT NULL holds; nothing is purged by the downgrade itself.
    bind = op.get_bind()
    files = sa.table(
        "application_files",
        sa.column("file_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("retain_until", sa.DateTime(timezone=True)),
    )
    waiting = bind.execute(
        sa.select(files.c.file_id, files.c.created_at).where(files.c.retain_until.is_(None))
    ).all()
    for file_id, created_at in waiting:
        until = _aware(created_at) + timedelta(days=3650)
        bind.execute(sa.update(files).where(files.c.file_id == file_id).values(retain_until=until))
    with op.batch_alter_table("application_files") as batch:
        batch.alter_column("retain_until", existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("paused_business_days")
        batch.drop_column("paused_on")
        batch.drop_column("principal_name")
        batch.drop_column("principal_commitment")
        batch.drop_column("mandate_id")
    op.drop_index("ix_application_idempotency_keys_expires_at", table_name="application_idempotency_keys")
    op.drop_table("application_idempotency_keys")
