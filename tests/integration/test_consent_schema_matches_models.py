"""The consent package's tables as migrated are the tables its models declare (issue 12 leftovers, item 3).

Alembic's autogenerate comparison of ``consent.models`` against a database migrated to head, on SQLite and
PostgreSQL: a model index (such as ``ix_consents_expires_at``, which the notice sweep's range scans need)
without its migration, or a migration the model does not know of, shows up as a difference.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from consent.models import ConsentBase
from tests.conftest import Backend

CONSENT_TABLES = frozenset(ConsentBase.metadata.tables)


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in CONSENT_TABLES


def test_migrated_consent_tables_match_the_models(backend: Backend) -> None:
    engine = create_engine(backend.sync_hub_url())
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": False})
            differences = compare_metadata(context, ConsentBase.metadata)
            indexes = {i["name"] for i in inspect(conn).get_indexes("consents")}
    finally:
        engine.dispose()
    assert differences == []
    assert "ix_consents_expires_at" in indexes
