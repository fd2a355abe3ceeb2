"""Alembic environment: one history for every package's tables, run with a synchronous driver."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import audit.stats_models  # noqa: F401 - registers lookup_stats and lookup_stat_days on AuditBase's metadata
import hub.applications.deadline_sweep  # registers case_deadline_alerts on ApplicationsBase's metadata
import hub.applications.disputes  # noqa: F401 - registers access_disputes on ApplicationsBase's metadata
from audit.models import AuditBase
from consent.models import ConsentBase
from hub.applications.files import FilesBase
from hub.applications.handoff import HandoffBase
from hub.applications.models import ApplicationsBase
from hub.auth.models import HubBase
from hub.credentials.models import CredentialsBase
from hub.issuance.models import IssuanceBase
from hub.notify.models import NotifyBase

config = context.config
# Every package's tables (each package owns its declarative base): autogenerate compares the database with
# these, so a base missing here would be read as tables to drop. tests/unit/test_migration_metadata.py
# holds this list to the migrated schema.
target_metadata = [
    HubBase.metadata,
    AuditBase.metadata,
    ConsentBase.metadata,
    IssuanceBase.metadata,
    NotifyBase.metadata,
    ApplicationsBase.metadata,  # cases, steps, drafts, counter form sessions, departments, disputes
    FilesBase.metadata,  # application_files
    HandoffBase.metadata,  # handoff_replays
    CredentialsBase.metadata,  # credentials, credential_kb_replays (SD-JWT VCs)
]


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
