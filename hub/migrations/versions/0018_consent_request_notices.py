"""consent: consent_request_notices, one row per consent request announced to a resident

A resident hears of a consent request when they first open it signed in (``hub.consents.ConsentApp``); the
primary key (request, resident) makes that notice happen once, also when two tabs open it at once.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_request_notices",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["consent_requests.request_id"],
            name=op.f("fk_consent_request_notices_request_id_consent_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "subject_commitment", name=op.f("pk_consent_request_notices")),
    )


def downgrade() -> None:
    op.drop_table("consent_request_notices")
