"""The PostgreSQL export through COPY writes the very bytes of the keyset export, row for row.

Rows are appended through the real log and integrator, with text that exercises every escaping and quoting
rule (JSON escapes, CSV quoting, spreadsheet formulas, line breaks, non-ASCII) and rows the server hands back
to Python (a carriage return, a ``fields`` list the hub's JSON serializer wrote with ``\\u`` escapes).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent, AuditLog, repository
from audit.export import Format, keyset_stream, stream
from audit.filters import EventFilter
from audit.integrator import Integrator
from audit.signer import LogSigner
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings
from tests.conftest import _drop_pg

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
EVENTS = 60
TEXTS = [
    None,
    "",
    "plain",
    'quote " and, comma',
    "backslash \\ and \\\\ two",
    "line\nbreak",
    "carriage\rreturn",
    "tab\there \x01\x1f\x7f",
    '=HYPERLINK("x")',
    "-1",
    "+1",
    "@sum",
    "\tstarts with tab",
    "한글 😀 \u2028 é",
    "#not a marker",
]
FIELDS = [(), ("name",), ("name", "address"), ("이름",), ("=f", "b")]
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    name = f"gongyu_t_copy_{secrets.token_hex(4)}"
    url = f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    engine = create_async_engine(url)
    factory = session_factory(engine)
    log = AuditLog(factory)
    try:
        for i in range(EVENTS):
            await log.append(
                AuditEvent(
                    kind="lookup" if i % 4 else "consent",
                    actor_kind="client",
                    actor_id=f"bank-{i % 3}",
                    actor_org=TEXTS[(i + 3) % len(TEXTS)],
                    outcome="ok" if i % 5 else "denied",
                    subject_commitment=f"{i:064x}",
                    document_type="resident_registration_abstract",
                    view="basic",
                    fields=FIELDS[i % len(FIELDS)],
                    purpose_code="kyc",
                    purpose_text=TEXTS[i % len(TEXTS)],
                    reason=TEXTS[(i + 7) % len(TEXTS)],
                    visible_from=START + timedelta(days=i) if i % 6 == 0 else None,
                    occurred_at=START + timedelta(minutes=i),
                )
            )
        signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
        await Integrator(factory, signer).integrate_once()
        yield factory
    finally:
        await engine.dispose()
        _drop_pg(name)


async def _body(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_the_copy_export_equals_the_keyset_export_byte_for_byte(
    sessions: async_sessionmaker[AsyncSession], fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    redone: list[int] = []
    real = repository.leaf_records

    async def counting(session: AsyncSession, after: int, limit: int, *args: Any, **kwargs: Any) -> Any:
        if limit == 1:  # the COPY path handing one row back to Python
            redone.append(after + 1)
        return await real(session, after, limit, *args, **kwargs)

    monkeypatch.setattr(repository, "leaf_records", counting)
    window = EventFilter(since=START + timedelta(minutes=10), until=START + timedelta(minutes=50))
    cases = [
        (EventFilter(), EVENTS),
        (EventFilter(), 37),
        (window, EVENTS),
        (EventFilter(kind="consent"), EVENTS),
    ]
    for filters, size in cases:
        fast = await _body(stream(sessions, filters, size, fmt))
        slow = await _body(keyset_stream(sessions, filters, size, fmt, batch_size=7))
        assert fast == slow, (filters, size)
    everything = await _body(stream(sessions, EventFilter(), EVENTS, fmt))
    assert "한글".encode() in everything
    lines = everything.count(b"\n")
    assert lines >= EVENTS  # every row (and CSV's header; quoted line breaks add more)
    if fmt == "csv":
        assert b"'=HYPERLINK" in everything and b"\n'=" not in everything
    assert 0 < len(set(redone)) < EVENTS // 2, "most rows come from the server, the odd ones from Python"
