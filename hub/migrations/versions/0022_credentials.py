"""credentials: SD-JWT VCs the resident holds (hub/credentials)

``credentials``: one row per issued credential (never its content: the resident holds that), with its entry
in the status list (``status_list``, ``status_idx``; unique, so two issuances never share a bit) and the audit
events of its issuance and revocation. ``credential_kb_replays``: the hashes of key-binding JWTs a
verification accepted, so the same presentation is refused a second time until it is too old to be accepted
anyway.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("credential_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("subject_commitment", sa.String(64), nullable=False),
        sa.Column("document_type", sa.String(64), nullable=False),
        sa.Column("view", sa.String(64), nullable=False),
        sa.Column("status_list", sa.String(16), nullable=False),
        sa.Column("status_idx", sa.Integer(), nullable=False),
        sa.Column("holder_thumbprint", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audit_event_id", sa.String(36), nullable=False),
        sa.Column("revoke_event_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("credential_id", name="pk_credentials"),
        sa.UniqueConstraint("status_list", "status_idx", name="uq_credentials_status_entry"),
    )
    op.create_index("ix_credentials_account_id", "credentials", ["account_id"])
    op.create_table(
        "credential_kb_replays",
        sa.Column("kb_hash", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kb_hash", name="pk_credential_kb_replays"),
    )
    op.create_index("ix_credential_kb_replays_expires_at", "credential_kb_replays", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_credential_kb_replays_expires_at", table_name="credential_kb_replays")
    op.drop_table("credential_kb_replays")
    op.drop_index("ix_credentials_account_id", table_name="credentials")
    op.drop_table("credentials")
