"""Tampering with the stored log is caught, and the finding names the leaf that was touched."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, create_engine, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from audit.integrator import Integrator
from audit.merkle import leaf_hash
from audit.models import AuditEventRow
from audit.signer import LogSigner
from audit.verify import Report, verify_log
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg
from tests.helpers.append_only import lift_append_only

pytestmark = pytest.mark.anyio
EVENTS = 40


@dataclass
class FreshLog:
    sessions: async_sessionmaker[AsyncSession]
    verifier_key: str
    sync_url: str
    size: int

    def tamper(self, change: Callable[[Connection], object]) -> None:
        engine = create_engine(self.sync_url)
        with engine.begin() as conn:
            lift_append_only(conn)  # the database refuses edits since migration 0007: step round it
            change(conn)
        engine.dispose()

    async def verify(self) -> Report:
        return await verify_log(self.sessions, self.verifier_key, batch_size=7)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FreshLog]:
    name = f"gongyu_t_verify_{secrets.token_hex(4)}"
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    settings = Settings(var_dir=tmp_path, database_url=url)
    upgrade(settings)
    engine = create_async_engine(url)
    sessions = session_factory(engine)
    signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    log, integrator = AuditLog(sessions), Integrator(sessions, signer, batch_size=16)
    try:
        await integrator.integrate_once()  # the empty checkpoint
        for i in range(EVENTS):
            await log.append(
                AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id=f"bank-{i % 3}",
                    outcome="ok",
                    subject_commitment=f"{i:064x}",
                    document_type="resident_registration_abstract",
                    view="basic",
                    fields=("name", "address"),
                    purpose_code="kyc",
                    basis="statute:KR-FTRA-5-2",
                )
            )
            if i % 9 == 8:
                await integrator.integrate_once()
        while (await integrator.integrate_once()).integrated:
            pass
        yield FreshLog(sessions, signer.verifier_key, sync_url(url), EVENTS)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            _drop_pg(name)


def leaf_findings(report: Report) -> set[tuple[str, int | None]]:
    return {
        (f.kind, f.leaf_index)
        for f in report.findings
        if f.kind in {"edited", "deleted", "inserted", "reordered"}
    }


async def test_an_untouched_log_verifies(fresh_log: FreshLog) -> None:
    report = await fresh_log.verify()
    assert report.ok, report.findings
    assert report.leaves_checked == EVENTS and report.tree_size == EVENTS
    assert report.checkpoints_checked >= 5
    assert report.nodes_checked == sum(EVENTS >> level for level in range(1, 7))  # complete interior nodes


async def test_an_edited_row_is_reported_at_its_leaf(fresh_log: FreshLog) -> None:
    fresh_log.tamper(
        lambda c: c.execute(text("UPDATE audit_events SET purpose_code = 'marketing' WHERE leaf_index = 7"))
    )
    report = await fresh_log.verify()
    assert leaf_findings(report) == {("edited", 7)}
    assert any(f.kind == "checkpoint-root" for f in report.findings)


async def test_a_deleted_row_is_reported_at_its_leaf(fresh_log: FreshLog) -> None:
    fresh_log.tamper(lambda c: c.execute(text("DELETE FROM audit_events WHERE leaf_index = 12")))
    assert leaf_findings(await fresh_log.verify()) == {("deleted", 12)}


async def test_swapped_rows_are_reported_as_reordered(fresh_log: FreshLog) -> None:
    def swap(conn: Connection) -> None:
        conn.execute(text("UPDATE audit_events SET leaf_index = -1 WHERE leaf_index = 3"))
        conn.execute(text("UPDATE audit_events SET leaf_index = 3 WHERE leaf_index = 4"))
        conn.execute(text("UPDATE audit_events SET leaf_index = 4 WHERE leaf_index = -1"))

    fresh_log.tamper(swap)
    assert leaf_findings(await fresh_log.verify()) == {("reordered", 3), ("reordered", 4)}


async def test_a_row_inserted_past_the_checkpoint_is_reported(fresh_log: FreshLog) -> None:
    def insert(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO audit_events"
                " (event_id, leaf_index, occurred_at, kind, actor_kind, actor_id, fields, outcome)"
                " VALUES ('forged-1', :i, :t, 'lookup', 'client', 'ghost', '[]', 'ok')"
            ),
            {"i": EVENTS, "t": datetime.now(UTC)},
        )

    fresh_log.tamper(insert)
    assert leaf_findings(await fresh_log.verify()) == {("inserted", EVENTS)}


async def test_a_backdated_unintegrated_row_is_reported(fresh_log: FreshLog) -> None:
    def insert(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO audit_events (event_id, occurred_at, kind, actor_kind, actor_id, fields,"
                " outcome)"
                " VALUES ('forged-2', :t, 'lookup', 'client', 'ghost', '[]', 'ok')"
            ),
            {"t": datetime.now(UTC) - timedelta(days=3)},
        )

    fresh_log.tamper(insert)
    assert leaf_findings(await fresh_log.verify()) == {("inserted", None)}


async def test_rewriting_the_leaf_node_too_is_still_caught_by_the_signed_checkpoints(
    fresh_log: FreshLog,
) -> None:
    def rewrite(conn: Connection) -> None:
        conn.execute(text("UPDATE audit_events SET actor_id = 'someone-else' WHERE leaf_index = 20"))
        row = (
            Session(bind=conn)
            .execute(select(AuditEventRow).where(AuditEventRow.leaf_index == 20))
            .scalar_one()
        )
        digest = leaf_hash(AuditEvent.from_row(row).leaf_bytes())
        conn.execute(text("UPDATE audit_nodes SET hash = :h WHERE level = 0 AND idx = 20"), {"h": digest})

    fresh_log.tamper(rewrite)
    report = await fresh_log.verify()
    assert not report.ok
    assert {f.kind for f in report.findings} >= {"checkpoint-root", "node-mismatch"}
    assert any(
        f.kind == "node-mismatch" and f.leaf_index is not None and f.leaf_index <= 20 for f in report.findings
    )


async def test_a_forged_checkpoint_signature_is_reported(fresh_log: FreshLog) -> None:
    fresh_log.tamper(
        lambda c: c.execute(
            text("UPDATE audit_checkpoints SET note = replace(note, '\n40\n', '\n41\n') WHERE tree_size = 40")
        )
    )
    report = await fresh_log.verify()
    assert [f.kind for f in report.findings] == ["checkpoint-signature"]
