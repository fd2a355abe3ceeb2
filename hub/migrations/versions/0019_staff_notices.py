"""placeholder: staff notices (filled by the change that needs it; a no-op until then)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
