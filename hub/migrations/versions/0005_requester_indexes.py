"""index issuances and consent requests by requester: "my e-documents", a counter's sessions of the day

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_issuances_requester", "issuances", ["requester_id", "issued_at"])
    op.create_index("ix_consent_requests_requester", "consent_requests", ["requester_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_consent_requests_requester", table_name="consent_requests")
    op.drop_index("ix_issuances_requester", table_name="issuances")
