"""Incremental verification: only the leaves after a trusted checkpoint are read, and nothing slips past it.

The log is built by the real append path and integrator, in rounds, so it has checkpoints at several sizes;
the verifier trusts the one at ``TRUSTED`` leaves (as if kept from yesterday's run).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, create_engine, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog, repository, tree
from audit.checkpoint import Checkpoint
from audit.integrator import Integrator
from audit.merkle import leaf_hash
from audit.models import AuditCheckpointRow, AuditEventRow
from audit.signer import LogSigner
from audit.verify import Report, UntrustedCheckpoint, verify_log, verify_since
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg
from tests.helpers.append_only import lift_append_only

pytestmark = pytest.mark.anyio
EVENTS = 61
TRUSTED = 27  # a checkpoint size the integrator publishes (rounds of 9 events)
AWKWARD = 'quote " backslash \\ nl \n tab \t cr \r ctl \x01\x1f del \x7f ls \u2028 é 한글 😀 </script>'


@dataclass
class Log:
    sessions: async_sessionmaker[AsyncSession]
    signer: LogSigner
    sync_url: str
    trusted_note: str

    def tamper(self, change: Callable[[Connection], object]) -> None:
        engine = create_engine(self.sync_url)
        with engine.begin() as conn:
            lift_append_only(conn)
            change(conn)
        engine.dispose()

    async def since(self, note: str | None = None) -> Report:
        return await verify_since(
            self.sessions, self.signer.verifier_key, note or self.trusted_note, batch_size=8
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Log]:
    name = f"gongyu_t_incr_{secrets.token_hex(4)}"
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    engine = create_async_engine(url)
    sessions = session_factory(engine)
    signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    appender, integrator = AuditLog(sessions), Integrator(sessions, signer, batch_size=64)
    try:
        await integrator.integrate_once()
        for i in range(EVENTS):
            await appender.append(
                AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id=f"bank-{i % 4}",
                    outcome="ok",
                    subject_commitment=f"{i:064x}",
                    document_type="resident_registration_abstract",
                    view="basic",
                    fields=("name", "address") if i % 3 else (),
                    purpose_code="kyc",
                    purpose_text=AWKWARD if i % 5 == 0 else None,  # every escaping rule, both backends
                    basis="statute:KR-FTRA-5-2",
                )
            )
            if i % 9 == 8:
                await integrator.integrate_once()
        await integrator.integrate_once()
        async with sessions() as session:
            trusted = await repository.checkpoint_at(session, TRUSTED)
            assert trusted is not None
            note = trusted.note
        yield Log(sessions, signer, sync_url(url), note)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            _drop_pg(name)


def kinds(report: Report) -> set[tuple[str, int | None]]:
    return {(f.kind, f.leaf_index) for f in report.findings}


async def test_an_untouched_log_verifies_from_the_trusted_checkpoint_reading_only_new_leaves(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[int, int]] = []
    real = repository.leaf_digests

    async def counting(session: AsyncSession, after: int, limit: int, below: int = 2**63 - 1) -> Any:
        rows = await real(session, after, limit, below)
        reads.append((after, len(rows)))
        return rows

    monkeypatch.setattr(repository, "leaf_digests", counting)
    report = await log.since()
    assert report.ok, report.findings
    assert report.trusted_size == TRUSTED and report.tree_size == EVENTS
    assert report.leaves_checked == report.leaves_read == EVENTS - TRUSTED
    assert min(after for after, _ in reads) == TRUSTED - 1  # the first read starts after the trusted size
    assert sum(count for _, count in reads) == EVENTS - TRUSTED  # and no row before it was read
    assert report.checkpoints_checked >= 4  # 27, 36, 45, 54, 61


async def test_the_full_verify_agrees_on_awkward_text(log: Log) -> None:
    report = await verify_log(log.sessions, log.signer.verifier_key, batch_size=8)
    assert report.ok, report.findings
    assert report.leaves_checked == EVENTS


async def test_an_edit_after_the_trusted_checkpoint_is_caught_at_its_leaf(log: Log) -> None:
    log.tamper(lambda c: c.execute(text("UPDATE audit_events SET actor_id = 'ghost' WHERE leaf_index = 40")))
    report = await log.since()
    assert ("edited", 40) in kinds(report)
    assert any(f.kind == "checkpoint-root" for f in report.findings)


def _rewrite_history(signer: LogSigner, leaf: int) -> Callable[[Connection], object]:
    """A hub holding its own key rewrites an old event and recomputes every node and checkpoint."""

    def change(conn: Connection) -> None:
        conn.execute(
            text("UPDATE audit_events SET purpose_code = 'marketing' WHERE leaf_index = :i"), {"i": leaf}
        )
        session = Session(bind=conn)
        rows = session.execute(
            select(AuditEventRow)
            .where(AuditEventRow.leaf_index.is_not(None))
            .order_by(AuditEventRow.leaf_index)
        ).scalars()
        leaves = [leaf_hash(AuditEvent.from_row(row).leaf_bytes()) for row in rows]
        nodes = tree.integrate(0, leaves, lambda ids: {})
        conn.execute(text("DELETE FROM audit_nodes"))
        conn.execute(
            text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": level, "i": idx, "h": h} for (level, idx), h in nodes.items()],
        )
        for size in session.execute(select(AuditCheckpointRow.tree_size)).scalars().all():
            root = tree.root(size, lambda ids: {i: nodes[i] for i in ids if i in nodes})
            note = signer.sign(Checkpoint(signer.origin, size, root))
            conn.execute(
                text("UPDATE audit_checkpoints SET root_hash = :r, note = :n WHERE tree_size = :s"),
                {"r": root, "n": note, "s": size},
            )

    return change


async def test_a_history_rewritten_before_the_trusted_checkpoint_fails_the_consistency_proof(
    log: Log,
) -> None:
    log.tamper(_rewrite_history(log.signer, 5))
    full = await verify_log(log.sessions, log.signer.verifier_key, batch_size=8)
    assert full.ok, "the rewrite is self-consistent: only a checkpoint kept from before can tell"
    report = await log.since()
    assert any(f.kind == "consistency" for f in report.findings)
    assert report.leaves_read == EVENTS - TRUSTED


async def test_a_checkpoint_not_signed_by_the_log_key_is_refused(log: Log) -> None:
    impostor = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    async with log.sessions() as session:
        root = (await repository.checkpoint_at(session, TRUSTED)).root_hash  # type: ignore[union-attr]
    with pytest.raises(UntrustedCheckpoint):
        await log.since(impostor.sign(Checkpoint(impostor.origin, TRUSTED, bytes(root))))
    altered = log.trusted_note.replace(f"\n{TRUSTED}\n", f"\n{TRUSTED - 1}\n")
    with pytest.raises(UntrustedCheckpoint):
        await log.since(altered)


async def test_a_signed_checkpoint_beyond_the_log_is_refused(log: Log) -> None:
    ahead = log.signer.sign(Checkpoint(log.signer.origin, EVENTS + 5, bytes(32)))
    with pytest.raises(UntrustedCheckpoint):
        await log.since(ahead)
