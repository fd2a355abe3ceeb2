"""A case's files are kept for the form's retention counted from the case's end (completion or withdrawal),
not from the upload: ``gongyu applications purge`` never touches an open case's files, however old, and
purges an ended case's once its retention has run; the same run forgets idempotency keys past 24 hours."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial

import anyio
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from audit.events import utcnow
from consent.records import aware
from hub.applications.case_files import CaseFiles
from hub.applications.files import ApplicationFileRow
from hub.applications.models import IdempotencyKeyRow
from hub.applications.service import Move
from hub.cli import app as cli
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal
from tests.conftest import Backend, audit_rows

pytestmark = pytest.mark.anyio

FORM = "basic_pension"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Lease (monthly rent 500000) >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _purge(backend: Backend, now: datetime) -> dict[str, int]:
    settings = backend.settings
    env = {
        "GONGYU_VAR_DIR": str(settings.var_dir),
        "GONGYU_DATABASE_URL": settings.effective_database_url,
        "GONGYU_ENVIRONMENT": "test",
    }
    result = CliRunner().invoke(cli, ["applications", "purge", "--now", now.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    answer: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


async def _kept(state: HubState, file_id: str) -> datetime | bool | None:
    """The file's ``retain_until`` (None while its case is open), or False once it is purged."""
    async with state.sessions() as session:
        row = await session.get(ApplicationFileRow, file_id)
    if row is None:
        assert not state.files.path_of(file_id).exists()
        return False
    return aware(row.retain_until) if row.retain_until is not None else None


async def test_purge_counts_retention_from_the_cases_end_and_never_touches_an_open_case(
    hub_state: HubState, backend: Backend
) -> None:
    resident = await principal(hub_state, "resident0")
    official = await official_in(hub_state, "welfare-retention", "welfare")
    files = CaseFiles(hub_state.applications, hub_state.files)
    retention = timedelta(days=hub_state.forms[FORM].retention_days)
    stored = {}
    for name in ("open", "completed", "withdrawn"):
        async with transaction(hub_state.sessions) as session:
            case = await hub_state.applications.submit(
                session, resident, FORM, {**TYPED[FORM], **PERSONAL}, f"retention-{name}"
            )
            stored[name] = (
                case.application_id,
                await files.attach(
                    session, resident, case.application_id, "attachment", PDF, f"retention-{name}"
                ),
            )
    for name, _ in stored.items():
        assert await _kept(hub_state, stored[name][1].file_id) is None, "no end date while the case is open"

    before = utcnow()
    completed, withdrawn = stored["completed"][0], stored["withdrawn"][0]
    for target in ("assigned", "in_review"):
        async with transaction(hub_state.sessions) as session:
            await hub_state.applications.transition(session, official, completed, Move(to=target), "t")
    async with transaction(hub_state.sessions) as session:
        await hub_state.applications.transition(
            session, official, completed, Move(to="completed", outcome="approved"), "t"
        )
        await hub_state.applications.transition(session, resident, withdrawn, Move(to="withdrawn"), "t")
    after = utcnow()
    for name in ("completed", "withdrawn"):
        until = await _kept(hub_state, stored[name][1].file_id)
        assert isinstance(until, datetime) and before + retention <= until <= after + retention

    # The day before the retention has run from the end: nothing of these three goes.
    await anyio.to_thread.run_sync(partial(_purge, backend, before + retention - timedelta(days=1)))
    assert all([await _kept(hub_state, f.file_id) is not False for _, f in stored.values()])

    # After it: the ended cases' files go (each on the record); the open case's stays, years on.
    report = await anyio.to_thread.run_sync(partial(_purge, backend, after + retention + timedelta(days=1)))
    assert report["purged"] >= 2
    assert await _kept(hub_state, stored["completed"][1].file_id) is False
    assert await _kept(hub_state, stored["withdrawn"][1].file_id) is False
    assert await _kept(hub_state, stored["open"][1].file_id) is None
    assert hub_state.files.path_of(stored["open"][1].file_id).exists()
    purged = {r["basis"] for r in audit_rows(backend) if r["kind"] == "application_file_purge"}
    assert {f"application:{completed}", f"application:{withdrawn}"} <= purged
    assert f"application:{stored['open'][0]}" not in purged


async def test_purge_forgets_idempotency_keys_past_their_24_hours(
    hub_state: HubState, backend: Backend
) -> None:
    resident = await principal(hub_state, "resident1")
    now = datetime.now(UTC)
    async with transaction(hub_state.sessions) as session:
        for key, age in (("old-key", timedelta(hours=25)), ("fresh-key", timedelta(hours=1))):
            session.add(
                IdempotencyKeyRow(
                    account_id=resident.account_id,
                    idempotency_key=f"{key}-{now.timestamp()}",
                    fingerprint="0" * 64,
                    status_code=201,
                    response={},
                    created_at=now - age,
                    expires_at=now - age + timedelta(hours=24),
                )
            )
    report = await anyio.to_thread.run_sync(partial(_purge, backend, now))
    assert report["idempotency_keys"] >= 1
    async with hub_state.sessions() as session:
        left = set(
            await session.scalars(
                select(IdempotencyKeyRow.idempotency_key).where(
                    IdempotencyKeyRow.account_id == resident.account_id
                )
            )
        )
    assert f"fresh-key-{now.timestamp()}" in left and f"old-key-{now.timestamp()}" not in left
