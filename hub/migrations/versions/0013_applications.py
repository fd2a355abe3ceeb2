"""applications: civil application cases, their steps and drafts (hub/applications/)

Reserved in the migration chain so that work on separate packages can land in any order; a revision whose
package has nothing to change yet is a no-op.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:50:00.000000
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
