"""Exporting 100,000 events streams in constant memory and its manifest matches the body."""

from __future__ import annotations

import hashlib
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from audit.export import ExportFilter, manifest, stream
from audit.models import AuditEventRow
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
EVENTS = 100_000


async def test_exporting_100k_events_streams_in_bounded_memory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sync_engine = create_engine(sync_url(url))
    with sync_engine.begin() as conn:
        for offset in range(0, EVENTS, 20_000):
            conn.execute(
                insert(AuditEventRow),
                [
                    {
                        "event_id": str(uuid.UUID(int=i)),
                        "leaf_index": i,  # as if integrated: this test is about the export, not the tree
                        "occurred_at": start + timedelta(seconds=i),
                        "kind": "lookup",
                        "actor_kind": "client",
                        "actor_id": f"bank-{i % 7}",
                        "actor_org": f"Bank {i % 7}",
                        "subject_commitment": f"{i:064x}",
                        "document_type": "resident_registration_abstract",
                        "view": "basic",
                        "fields": ["name", "birth_date", "address"],
                        "purpose_code": "kyc",
                        "basis": "statute:KR-FTRA-5-2",
                        "outcome": "ok",
                        "reason": "allowed",
                        "request_id": f"req-{i}",
                    }
                    for i in range(offset, offset + 20_000)
                ],
            )
    sync_engine.dispose()
    engine = create_async_engine(url)
    sessions = session_factory(engine)
    try:
        tracemalloc.start()
        digest, size, lines = hashlib.sha256(), 0, 0
        async for chunk in stream(sessions, ExportFilter(), EVENTS, "jsonl"):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert lines == EVENTS
        assert size > 40_000_000, "the body is large ..."
        assert peak < 15_000_000, f"... but streaming peaked at {peak / 1e6:.1f} MB"
        summary = await manifest(sessions, ExportFilter(), EVENTS, "root", "jsonl")
        assert (summary.rows, summary.sha256, summary.size_bytes) == (EVENTS, digest.hexdigest(), size)
    finally:
        await engine.dispose()
