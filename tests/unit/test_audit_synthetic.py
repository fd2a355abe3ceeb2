"""The synthetic loader leaves a log that verifies; the fast leaf path is byte-identical to AuditEvent's."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from audit import repository
from audit.checkpoint import verifier_key
from audit.events import AuditEvent
from audit.export import ExportFilter
from audit.merkle import leaf_hash, verify_inclusion
from audit.service import AuditReader
from audit.signer import LogSigner
from audit.synthetic import seed_synthetic
from audit.verify import Report, verify_log
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings
from tests.helpers.append_only import lift_append_only

ORIGIN = "test.gongyu/log"


def _verify(url: str, key: Ed25519PrivateKey) -> Report:
    async def run() -> Report:
        engine = create_async_engine(url)
        try:
            return await verify_log(
                session_factory(engine), verifier_key(ORIGIN, key.public_key()), batch_size=700
            )
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, Ed25519PrivateKey]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    key = Ed25519PrivateKey.generate()
    seen: list[tuple[int, int]] = []
    size = seed_synthetic(
        f"sqlite:///{tmp_path / 'log.db'}", 3000, ORIGIN, key, lambda d, t: seen.append((d, t))
    )
    assert size == 3000 and seen[-1] == (3000, 3000)
    return url, key


def test_a_seeded_log_verifies_and_its_proofs_check(seeded: tuple[str, Ed25519PrivateKey]) -> None:
    url, key = seeded
    report = _verify(url, key)
    assert report.ok, report.findings[:3]
    assert report.leaves_checked == report.tree_size == 3000

    async def proofs() -> None:
        engine = create_async_engine(url)
        reader = AuditReader(session_factory(engine), LogSigner(ORIGIN, key))
        try:
            latest = await reader.latest_checkpoint()
            assert latest is not None and latest.tree_size == 3000
            for leaf in (0, 1, 1234, 2047, 2048, 2999):
                size, path = await reader.inclusion_proof(leaf, None)
                found = await reader.leaf(leaf)
                assert found is not None
                verify_inclusion(leaf_hash(found.leaf_bytes), leaf, size, path, latest.root_hash)
            body = b"".join([c async for c in reader.export_stream(ExportFilter(), 3000, "jsonl")])
            assert body.count(b"\n") == 3000
        finally:
            await engine.dispose()

    asyncio.run(proofs())


def test_seeding_appends_after_an_existing_log(seeded: tuple[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    url, key = seeded
    assert seed_synthetic(f"sqlite:///{tmp_path / 'log.db'}", 1500, ORIGIN, key) == 4500
    report = _verify(url, key)
    assert report.ok and report.tree_size == 4500 and report.checkpoints_checked == 2


def test_rows_deleted_at_the_end_of_the_published_log_are_reported(
    seeded: tuple[str, Ed25519PrivateKey], tmp_path: Path
) -> None:
    url, key = seeded
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    with engine.begin() as conn:
        lift_append_only(conn)  # the database refuses deletes since migration 0007: a tamperer steps round it
        conn.execute(text("DELETE FROM audit_events WHERE leaf_index >= 2998"))
    engine.dispose()
    report = _verify(url, key)
    assert {(f.kind, f.leaf_index) for f in report.findings if f.kind == "deleted"} == {
        ("deleted", 2998),
        ("deleted", 2999),
    }


TRICKY = [
    "",
    "plain",
    'quo"te',
    "back\\slash",
    "tab\tnew\nline\r",
    "\x00\x01\x1f\x7f",
    "\u2028\u2029",
    "한국어 🎉",
    "\ud7ff\ue000\uffff",
]


def _values(text_value: str, fields: Any, occurred: Any, visible: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: text_value for k in repository.LEAF_KEYS}
    values.update(fields=fields, occurred_at=occurred, visible_from=visible, actor_org=None)
    return values


@pytest.mark.parametrize("text_value", TRICKY)
@pytest.mark.parametrize(
    ("fields", "occurred", "visible"),
    [
        (["name", "address"], datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None),
        ([], datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (None, datetime(2026, 1, 2, 3, 4, 5, 999999), None),  # SQLite: naive UTC
        (["ok", 7], datetime(2026, 1, 2, tzinfo=UTC), None),  # not a list of strings: the general path
        ("name", datetime(2026, 1, 2, tzinfo=UTC), None),
        ([], datetime(999, 1, 2, tzinfo=UTC), None),
        ([], datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=9))), None),
    ],
)
def test_the_fast_leaf_path_is_byte_identical(
    text_value: str, fields: Any, occurred: Any, visible: Any
) -> None:
    values = _values(text_value, fields, occurred, visible)
    want = AuditEvent.from_row(SimpleNamespace(**values)).leaf_bytes()
    assert repository.leaf_bytes(repository.leaf_record(5, values)) == want
    # The PostgreSQL path: text columns packed in one JSON array by the server, times as datetimes.
    packed = json.dumps([values[k] for k in repository._PACKED], ensure_ascii=False)
    assert repository.leaf_bytes(repository._pg_record(5, occurred, visible, packed)) == want


def test_every_code_point_encodes_as_the_standard_library_does() -> None:
    text_value = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    values = _values(text_value, [text_value], datetime(2026, 1, 2, tzinfo=UTC), None)
    want = AuditEvent.from_row(SimpleNamespace(**values)).leaf_bytes()
    assert repository.leaf_bytes(repository.leaf_record(0, values)) == want
