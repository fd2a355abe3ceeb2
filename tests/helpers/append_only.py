"""Stepping round the audit tables' append-only triggers (migration 0007), as a tamperer would have to.

Tests that rewrite the audit log on purpose, to show ``gongyu audit verify`` catches it, call this first in
the same transaction. On PostgreSQL it is what a superuser does (``session_replication_role = replica``
skips ordinary triggers; the tests connect as the superuser ``root``); on SQLite whoever can write the file
simply drops the triggers.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def lift_append_only(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        return
    names = conn.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%append_only%'")
    ).scalars()
    for name in list(names):
        conn.execute(text(f'DROP TRIGGER "{name}"'))
