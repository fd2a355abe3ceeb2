"""The database itself refuses UPDATE and DELETE on the audit tables (issue 16, point 11; migration 0007).

A log built through the Alembic history, with events appended and integrated as the hub does it (the
integrator's one allowed update: an event's leaf index, once), on SQLite and PostgreSQL. Every UPDATE and
DELETE on ``audit_events``, ``audit_nodes`` and ``audit_checkpoints`` is refused, nothing changed, and the log
still verifies afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent, AuditLog
from audit.integrator import Integrator
from audit.signer import LogSigner
from audit.verify import verify_log
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg

pytestmark = pytest.mark.anyio
EVENTS = 12

ATTEMPTS = [
    "UPDATE audit_events SET purpose_code = 'marketing' WHERE leaf_index = 3",
    "UPDATE audit_events SET leaf_index = 99 WHERE leaf_index = 3",  # a leaf index is set once, never moved
    "UPDATE audit_events SET leaf_index = NULL WHERE leaf_index = 4",
    "DELETE FROM audit_events WHERE leaf_index = 5",
    "DELETE FROM audit_events",
    "UPDATE audit_nodes SET hash = hash WHERE level = 0 AND idx = 1",
    "DELETE FROM audit_nodes WHERE level = 0 AND idx = 2",
    "UPDATE audit_checkpoints SET note = note WHERE tree_size > 0",
    "DELETE FROM audit_checkpoints",
]


@dataclass
class Log:
    sync_url: str
    verify_key: str
    integrator: Integrator
    log: AuditLog
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def built_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Log]:
    name = f"gongyu_t_append_{secrets.token_hex(4)}"
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    engine = create_async_engine(url)
    sessions = session_factory(engine)
    signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    log, integrator = AuditLog(sessions), Integrator(sessions, signer, batch_size=5)
    try:
        await integrator.integrate_once()
        for i in range(EVENTS):
            await log.append(
                AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id="bank",
                    outcome="ok",
                    subject_commitment=f"{i:064x}",
                    fields=("name",),
                    purpose_code="kyc",
                )
            )
        while (await integrator.integrate_once()).integrated:  # the allowed update: leaf indices, once
            pass
        yield Log(sync_url(url), signer.verifier_key, integrator, log, sessions)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            _drop_pg(name)


def _counts(url: str) -> tuple[int, ...]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = tuple(
            int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("audit_events", "audit_nodes", "audit_checkpoints")
        )
    engine.dispose()
    return found


@pytest.mark.parametrize("statement", ATTEMPTS)
async def test_update_and_delete_are_refused_and_the_log_still_verifies(
    built_log: Log, statement: str
) -> None:
    before = _counts(built_log.sync_url)
    engine = create_engine(built_log.sync_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
    assert _counts(built_log.sync_url) == before

    # The hub keeps working: more events append and integrate, and the whole log verifies.
    await built_log.log.append(AuditEvent(kind="lookup", actor_kind="client", actor_id="bank", outcome="ok"))
    assert (await built_log.integrator.integrate_once()).integrated == 1
    report = await verify_log(built_log.sessions, built_log.verify_key)
    assert report.ok, report.findings
    assert report.leaves_checked == EVENTS + 1
