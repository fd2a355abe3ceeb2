"""Migration 0020 brings existing case files to "retention from the case's end" on SQLite and PostgreSQL: an
open case's files lose their end date (never purged while it is open), an ended case's keep the same length
counted from its completion or withdrawal; the downgrade gives every file a date back."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from hub.migrate import alembic_config, ensure_database
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg

CREATED = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
COMPLETED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
WITHDRAWN = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        settings = Settings(var_dir=tmp_path_factory.mktemp("migration-0020"), environment="test")
        yield settings.effective_database_url
        return
    name = f"gongyu_m0020_{secrets.token_hex(4)}"
    try:
        yield f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    finally:
        _drop_pg(name)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _seed(engine: Engine) -> None:
    cases = [
        ("open", "in_review", None, CREATED),
        ("completed", "completed", COMPLETED, COMPLETED),
        ("withdrawn", "withdrawn", None, WITHDRAWN),
    ]
    with engine.begin() as conn:
        for name, status, completed_at, updated_at in cases:
            conn.execute(
                text(
                    "INSERT INTO applications (application_id, case_number, form_type, department, status,"
                    " applicant_account_id, subject_commitment, answers, prefilled, submitted_at, due_on,"
                    " updated_at, completed_at) VALUES (:id, :id, 'basic_pension', 'welfare', :status, 'a',"
                    " 'c', '{}', '{}', :created, '2026-01-20', :updated, :completed)"
                ),
                {
                    "id": f"case-{name}",
                    "status": status,
                    "created": CREATED,
                    "updated": updated_at,
                    "completed": completed_at,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO application_files (file_id, case_id, kind, media_type, size, sha256,"
                    " wrapped_key, created_by, created_at, retain_until) VALUES (:id, :case, 'attachment',"
                    " 'application/pdf', 1, :sha, :key, 'a', :created, :until)"
                ),
                {
                    "id": f"file-{name}",
                    "case": f"case-{name}",
                    "sha": "0" * 64,
                    "key": b"k" * 40,
                    "created": CREATED,
                    "until": CREATED + RETENTION,
                },
            )


def _kept(engine: Engine) -> dict[str, datetime | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT file_id, retain_until FROM application_files")).all()
    return {row[0]: (_aware(row[1]) if row[1] is not None else None) for row in rows}


def test_migration_0020_counts_existing_files_retention_from_their_cases_end(database: str) -> None:
    ensure_database(database)
    config = alembic_config(database)
    command.upgrade(config, "0019")
    engine = create_engine(sync_url(database))
    try:
        _seed(engine)
        command.upgrade(config, "0020")
        assert _kept(engine) == {
            "file-open": None,
            "file-completed": COMPLETED + RETENTION,
            "file-withdrawn": WITHDRAWN + RETENTION,
        }
        with engine.connect() as conn:
            paused = conn.execute(text("SELECT DISTINCT paused_business_days FROM applications")).scalars()
            assert list(paused) == [0]
        command.downgrade(config, "0019")
        kept = _kept(engine)
        assert kept["file-open"] == CREATED + timedelta(days=3650)
        assert kept["file-completed"] == COMPLETED + RETENTION
    finally:
        engine.dispose()
