"""The reader methods behind the auditor console: log status with integrator lag, the auditor's event list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditLog
from audit.anomalies import RULES, Event
from audit.events import AuditEvent
from audit.integrator import Integrator
from audit.listing import EventFilter
from audit.service import AuditReader
from audit.signer import LogSigner
from hub.db import create_engine, session_factory
from hub.migrate import upgrade
from hub.settings import Settings

ORIGIN = "test.gongyu/log"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _event(i: int, **overrides: object) -> AuditEvent:
    values: dict[str, object] = {
        "kind": "lookup",
        "actor_kind": "client",
        "actor_id": "bank-1" if i % 2 else "office-1",
        "actor_org": "Bank" if i % 2 else "Office",
        "outcome": "ok" if i % 3 else "denied",
        "subject_commitment": f"{i:064x}",
        "document_type": "resident_registration_abstract",
        "occurred_at": T0 + timedelta(minutes=i),
    }
    values.update(overrides)
    return AuditEvent(**values)  # type: ignore[arg-type]


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    upgrade(Settings(var_dir=tmp_path, database_url=database))
    return database


def test_status_counts_what_the_checkpoint_does_not_cover_and_its_age(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        signer = LogSigner(ORIGIN, Ed25519PrivateKey.generate())
        reader, log = AuditReader(sessions, signer), AuditLog(sessions)
        try:
            empty = await reader.log_status(T0)
            assert (empty.tree_size, empty.root_hash, empty.pending, empty.lag_seconds) == (0, None, 0, None)
            for i in range(3):
                await log.append(_event(i))
            waiting = await reader.log_status(T0 + timedelta(minutes=10))
            assert waiting.pending == 3 and waiting.checkpoint_note is None
            assert waiting.oldest_pending_at == T0 and waiting.lag_seconds == 600.0

            await Integrator(sessions, signer).integrate_once()
            await log.append(_event(7))
            status = await reader.log_status(T0 + timedelta(minutes=8))
            latest = await reader.latest_checkpoint()
            assert latest is not None
            assert status.tree_size == latest.tree_size == 3 and status.root_hash == latest.root_hash
            assert status.checkpoint_note == latest.note and status.checkpoint_at is not None
            assert status.checkpoint_at.tzinfo is not None
            assert status.pending == 1 and status.lag_seconds == 60.0

            await Integrator(sessions, signer).integrate_once()
            done = await reader.log_status(T0 + timedelta(hours=1))
            assert (done.tree_size, done.pending, done.oldest_pending_at, done.lag_seconds) == (
                4,
                0,
                None,
                None,
            )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_events_are_listed_newest_first_filtered_and_paged_by_cursor(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        signer = LogSigner(ORIGIN, Ed25519PrivateKey.generate())
        reader, log = AuditReader(sessions, signer), AuditLog(sessions)
        try:
            for i in range(12):
                await log.append(_event(i))
            await log.append(_event(12, kind="export", actor_kind="auditor", subject_commitment=None))
            await Integrator(sessions, signer).integrate_once()
            await log.append(_event(13))  # not integrated yet: listed, without a leaf index

            everything = await reader.events(EventFilter(), None, 100)
            assert len(everything.entries) == 14 and everything.next_cursor is None
            assert [e.occurred_at for e in everything.entries] == sorted(
                (e.occurred_at for e in everything.entries), reverse=True
            )
            assert everything.entries[0].leaf_index is None and everything.entries[1].leaf_index == 12

            seen: list[str] = []
            cursor = None
            while True:
                page = await reader.events(EventFilter(), cursor, 5)
                assert len(page.entries) <= 5
                seen += [e.event_id for e in page.entries]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert seen == [e.event_id for e in everything.entries]

            bank_denials = await reader.events(EventFilter(org="Bank", outcome="denied"), None, 100)
            expected = [i for i in range(14) if i % 2 and not i % 3 and i != 12]
            assert sorted(e.occurred_at for e in bank_denials.entries) == [
                (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for i in expected
            ]
            assert {(e.actor_org, e.outcome) for e in bank_denials.entries} == {("Bank", "denied")}
            exports = await reader.events(EventFilter(kind="export"), None, 100)
            assert [e.actor_kind for e in exports.entries] == ["auditor"]
            window = EventFilter(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5))
            assert len((await reader.events(window, None, 100)).entries) == 3
            other = EventFilter(document_type="family_relations_certificate")
            assert (await reader.events(other, None, 100)).entries == []
            with pytest.raises(ValueError):
                await reader.events(EventFilter(), "not-a-cursor!", 5)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_anomalies_carry_their_figures_by_name() -> None:
    events = [
        Event(i, T0 + timedelta(seconds=i), "bank-1", "Bank", f"s{i}", "denied", None) for i in range(12)
    ]
    params = {**RULES["many_subjects"].params, "distinct_subjects": 10}
    [fishing] = RULES["many_subjects"].check(events, params)
    assert fishing.figures == {"distinct": 10, "window_minutes": 10}
    [burst] = RULES["denial_burst"].check(events, RULES["denial_burst"].params)
    assert burst.figures == {"denials": 10, "window_minutes": 5}
