"""Run the Alembic history programmatically, so ``gongyu migrate`` works from an installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.settings import Settings, sync_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def ensure_database(database_url: str) -> None:
    """Create the SQLite directory or the PostgreSQL database if missing (first run convenience)."""
    url = make_url(sync_url(database_url))
    if url.drivername.startswith("sqlite"):
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def upgrade(settings: Settings, revision: str = "head") -> None:
    ensure_database(settings.effective_database_url)
    command.upgrade(alembic_config(settings.effective_database_url), revision)
