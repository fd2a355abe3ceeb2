"""audit log append-only in the database: triggers refuse UPDATE and DELETE on the audit tables

The audit log is append-only by design (``audit.repository`` only ever inserts), but until now only the code
said so: anyone holding the hub's database credentials could rewrite or delete an event, and only ``gongyu
audit verify`` would notice afterwards. These triggers make the database itself refuse it, so changing the
record takes a superuser stepping round the triggers on purpose (``SET session_replication_role = replica``
on PostgreSQL), and ``gongyu audit verify`` still catches what such a person changed. For the guard to mean
that, the hub's role should not own the tables either: an owner may ``ALTER TABLE ... DISABLE TRIGGER``.

One write is legitimate and stays allowed: the integrator assigning an event its leaf index, exactly once
(``leaf_index`` from NULL to a value, every other column unchanged). ``audit_nodes`` and
``audit_checkpoints`` are only ever inserted (the integrator's SQLite writer lock is an UPDATE that matches no
row, so no row trigger fires). TRUNCATE is not a row operation and is not covered; verification reports the
missing leaves.

SQLite gets the same triggers. There they guard against mistakes, not people: whoever can write the file can
drop them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("audit_events", "audit_nodes", "audit_checkpoints")
FUNCTION = "gongyu_audit_append_only"

# Nested IFs, not one AND: PL/pgSQL does not promise to short-circuit, and OLD.leaf_index does not exist on
# the nodes and checkpoints tables that share this function.
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_events' THEN
        IF OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL THEN
            IF (to_jsonb(NEW) - 'leaf_index') = (to_jsonb(OLD) - 'leaf_index') THEN
                RETURN NEW;  -- the integrator assigning the leaf index, once
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _sqlite_triggers(bind: sa.engine.Connection) -> list[str]:
    # The event columns are read from the table as it is now, so the "unchanged" check covers all of them.
    columns = [c["name"] for c in sa.inspect(bind).get_columns("audit_events") if c["name"] != "leaf_index"]
    unchanged = " AND ".join(f'NEW."{name}" IS OLD."{name}"' for name in columns)
    refuse = "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    statements = [
        f"CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events"
        f" WHEN NOT (OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL AND {unchanged}) {refuse}"
    ]
    statements += [
        f"CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table} {refuse}" for table in TABLES
    ]
    statements += [
        f"CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table} {refuse}" for table in TABLES[1:]
    ]
    return statements


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
            )
    elif bind.dialect.name == "sqlite":
        for statement in _sqlite_triggers(bind):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    elif bind.dialect.name == "sqlite":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_delete")
