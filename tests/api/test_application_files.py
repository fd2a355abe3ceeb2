"""A case's attachments and scans: encrypted at rest, hash on the record, views audited, purged when due."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import anyio
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from hub.applications.files import (
    ApplicationFileRow,
    AttachmentStore,
    FileActor,
    FileIntegrityError,
    StoredFile,
)
from hub.cli import app as cli
from hub.errors import Problem
from hub.state import HubState
from hub.uow import transaction
from tests.conftest import Backend, audit_rows

pytestmark = pytest.mark.anyio

RESIDENT = FileActor("resident", "resident-account-1")
OFFICIAL = FileActor("official", "official-account-1", "Test Office")
MARKER = b"SECRET-CONTENT-OF-A-LEASE-CONTRACT"


def _pdf(marker: bytes = MARKER) -> bytes:
    return b"%PDF-1.7\n1 0 obj\n<< /Marker (" + marker + b") >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def _store(
    state: HubState, data: bytes, case_id: str, retention_days: int = 30, now: datetime | None = None
) -> StoredFile:
    async with transaction(state.sessions) as session:
        return await state.files.store(
            session,
            case_id=case_id,
            kind="attachment",
            data=data,
            actor=RESIDENT,
            retention_days=retention_days,
            request_id=f"test-{uuid.uuid4()}",
            now=now,
        )


async def _open(state: HubState, stored: StoredFile, store: AttachmentStore | None = None) -> bytes:
    async with transaction(state.sessions) as session:
        opened = await (store or state.files).open(
            session, stored.file_id, case_id=stored.case_id, actor=OFFICIAL, request_id="test-view"
        )
    return opened.content


async def test_an_attachment_is_noise_on_disk_and_its_hash_is_recorded(
    hub_state: HubState, backend: Backend
) -> None:
    case_id = str(uuid.uuid4())
    data = _pdf()
    stored = await _store(hub_state, data, case_id)

    on_disk = hub_state.files.path_of(stored.file_id).read_bytes()
    assert MARKER not in on_disk and b"%PDF" not in on_disk
    assert oct(hub_state.files.path_of(stored.file_id).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(InvalidTag):  # without the wrapped key, guessing one gets nowhere
        AESGCM(AESGCM.generate_key(bit_length=256)).decrypt(on_disk[:12], on_disk[12:], None)

    digest = hashlib.sha256(data).hexdigest()
    assert (stored.media_type, stored.size, stored.sha256) == ("application/pdf", len(data), digest)
    assert await _open(hub_state, stored) == data

    events = [r for r in audit_rows(backend) if f"file:{stored.file_id}" in r["fields"]]
    assert [e["kind"] for e in events] == ["application_file_store", "application_file_view"]
    for event in events:
        assert f"sha256:{digest}" in event["fields"]
        assert event["basis"] == f"application:{case_id}"
    assert (events[1]["actor_kind"], events[1]["actor_id"]) == ("official", OFFICIAL.id)


async def test_without_the_master_key_the_stored_file_does_not_open(hub_state: HubState) -> None:
    stored = await _store(hub_state, _png(), str(uuid.uuid4()))
    assert stored.media_type == "image/png"
    other_key = AttachmentStore(hub_state.files.root, lambda: secrets.token_bytes(32), hub_state.trail)
    with pytest.raises(FileIntegrityError):
        await _open(hub_state, stored, other_key)


async def test_a_ciphertext_moved_under_another_row_does_not_open(hub_state: HubState) -> None:
    case_id = str(uuid.uuid4())
    first, second = await _store(hub_state, _pdf(b"first"), case_id), await _store(hub_state, _png(), case_id)
    path = hub_state.files.path_of
    path(first.file_id).write_bytes(path(second.file_id).read_bytes())
    with pytest.raises(FileIntegrityError):
        await _open(hub_state, first)


async def test_a_file_of_another_case_is_not_found(hub_state: HubState) -> None:
    stored = await _store(hub_state, _png(), str(uuid.uuid4()))
    async with transaction(hub_state.sessions) as session:
        with pytest.raises(Problem) as refused:
            await hub_state.files.open(
                session, stored.file_id, case_id=str(uuid.uuid4()), actor=OFFICIAL, request_id="x"
            )
    assert refused.value.status == 404


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 500, 415),  # setup.exe renamed lease.pdf
        (b"just some text, named scan.png\n" * 20, 415),
        (b"\x89PNG\r\n\x1a\n" + b"garbage after the right magic", 415),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", 415),  # truncated: no end-of-file marker
        (b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024) + b"\n%%EOF\n", 413),
    ],
    ids=["exe-as-pdf", "text-as-png", "png-magic-garbage", "truncated-pdf", "too-large"],
)
async def test_what_is_not_a_pdf_png_or_jpeg_is_refused_and_nothing_is_written(
    hub_state: HubState, data: bytes, status: int
) -> None:
    case_id = str(uuid.uuid4())
    with pytest.raises(Problem) as refused:
        await _store(hub_state, data, case_id)
    assert refused.value.status == status
    assert refused.value.slug == ("file-type-not-allowed" if status == 415 else "file-too-large")
    async with hub_state.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(ApplicationFileRow).where(ApplicationFileRow.case_id == case_id)
        )
    assert count == 0


async def test_a_seal_is_stored_clean_and_its_recorded_hash_is_the_clean_pngs(
    hub_state: HubState, backend: Backend
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    photo = io.BytesIO()
    Image.new("RGB", (90, 90), (200, 0, 0)).save(photo, format="JPEG", exif=exif.tobytes())
    case_id = str(uuid.uuid4())
    async with transaction(hub_state.sessions) as session:
        stored = await hub_state.files.store_seal(
            session, case_id=case_id, data=photo.getvalue(), actor=RESIDENT, retention_days=30, request_id="t"
        )
    assert (stored.kind, stored.media_type) == ("seal", "image/png")
    content = await _open(hub_state, stored)
    assert b"PhoneMaker" not in content and hashlib.sha256(content).hexdigest() == stored.sha256
    [event] = [
        r
        for r in audit_rows(backend)
        if r["kind"] == "application_file_store" and f"file:{stored.file_id}" in r["fields"]
    ]
    assert event["view"] == "seal" and f"sha256:{stored.sha256}" in event["fields"]


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


async def test_purge_deletes_files_whose_retention_ended_and_audits_each(
    hub_state: HubState, backend: Backend
) -> None:
    now = datetime.now(UTC)
    case_id = str(uuid.uuid4())
    short = await _store(hub_state, _pdf(b"short"), case_id, retention_days=1, now=now - timedelta(days=3))
    long = await _store(hub_state, _png(), case_id, retention_days=365, now=now - timedelta(days=3))

    first = await anyio.to_thread.run_sync(partial(_purge, backend, now))
    assert first["purged"] >= 1  # other tests' files may be due too (a shared database)

    assert not hub_state.files.path_of(short.file_id).exists()
    async with hub_state.sessions() as session:
        assert await session.get(ApplicationFileRow, short.file_id) is None
        assert [f.file_id for f in await hub_state.files.files_of(session, case_id)] == [long.file_id]
    assert await _open(hub_state, long) == _png()

    purges = [r for r in audit_rows(backend) if r["kind"] == "application_file_purge"]
    mine = [r for r in purges if f"file:{short.file_id}" in r["fields"]]
    assert len(mine) == 1
    assert mine[0]["reason"] == "retention_ended" and f"sha256:{short.sha256}" in mine[0]["fields"]
    assert (mine[0]["actor_kind"], mine[0]["basis"]) == ("system", f"application:{case_id}")

    again = await anyio.to_thread.run_sync(partial(_purge, backend, now))
    assert again["purged"] == 0, "a second run finds nothing left to purge"


async def test_purge_sweeps_old_ciphertexts_that_never_got_their_row(
    hub_state: HubState, backend: Backend
) -> None:
    root = hub_state.files.root
    root.mkdir(parents=True, exist_ok=True)
    old, fresh = root / str(uuid.uuid4()), root / str(uuid.uuid4())
    old.write_bytes(secrets.token_bytes(64))  # a store whose transaction failed after the write
    fresh.write_bytes(secrets.token_bytes(64))  # a store that may still be committing
    hour_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(old, (hour_ago, hour_ago))
    kept = await _store(hub_state, _png(), str(uuid.uuid4()))
    os.utime(hub_state.files.path_of(kept.file_id), (hour_ago, hour_ago))

    report = await anyio.to_thread.run_sync(partial(_purge, backend, datetime.now(UTC)))

    assert report["orphans"] >= 1
    assert not old.exists() and fresh.exists()
    assert await _open(hub_state, kept) == _png(), "a file with its row is never an orphan"
