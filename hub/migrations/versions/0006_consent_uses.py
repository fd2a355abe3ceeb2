"""consent uses per document, and the consent's status as a column a use can re-check

"One time" for N documents used to be one pooled counter of N uses, so one document could be fetched N times.
Now ``consents.max_uses`` is a per-document limit and ``consent_uses`` counts each named document; a use is
a conditional UPDATE of both rows in the lookup's transaction. ``consents.status`` mirrors the pause/resume/
revoke events so that the same UPDATE refuses a consent paused or revoked while the agency was answering.

Existing consents: the pooled limit is divided back by the number of documents, and each document is counted
as having had every use recorded so far (capped at its limit). That may refuse a fetch an old consent would
still have allowed, never allow one it would not (fail closed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "consents", sa.Column("status", sa.String(16), nullable=False, server_default="active")
    )
    op.create_table(
        "consent_uses",
        sa.Column("consent_id", sa.String(36), sa.ForeignKey("consents.consent_id"), primary_key=True),
        sa.Column("document_type", sa.String(64), primary_key=True),
        sa.Column("view", sa.String(64), primary_key=True),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT consent_id, documents, max_uses, uses FROM consents")).all()
    for consent_id, documents, max_uses, uses in rows:
        docs = json.loads(documents) if isinstance(documents, str) else list(documents)
        per_document = max(1, max_uses // max(1, len(docs)))
        bind.execute(
            sa.text("UPDATE consents SET max_uses = :m WHERE consent_id = :c"),
            {"m": per_document, "c": consent_id},
        )
        for doc in docs:
            bind.execute(
                sa.text(
                    "INSERT INTO consent_uses (consent_id, document_type, view, uses)"
                    " VALUES (:c, :t, :v, :u)"
                ),
                {"c": consent_id, "t": doc["document_type"], "v": doc["view"], "u": min(uses, per_document)},
            )
        last = bind.execute(
            sa.text(
                "SELECT kind FROM consent_events WHERE consent_id = :c AND kind IN"
                " ('paused', 'resumed', 'revoked') ORDER BY id"
            ),
            {"c": consent_id},
        ).scalars().all()
        status = "revoked" if "revoked" in last else ("paused" if last and last[-1] == "paused" else "active")
        if status != "active":
            bind.execute(
                sa.text("UPDATE consents SET status = :s WHERE consent_id = :c"),
                {"s": status, "c": consent_id},
            )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT consent_id, documents, max_uses FROM consents")).all()
    for consent_id, documents, max_uses in rows:
        docs = json.loads(documents) if isinstance(documents, str) else list(documents)
        bind.execute(
            sa.text("UPDATE consents SET max_uses = :m WHERE consent_id = :c"),
            {"m": max_uses * max(1, len(docs)), "c": consent_id},
        )
    op.drop_table("consent_uses")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("status")
