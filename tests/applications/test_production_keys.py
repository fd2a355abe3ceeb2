"""The civil applications' keys in production: ``gongyu keys init`` makes the attachments' master key and
the counters' key folder, start-up refuses a production hub without that key (naming it) or with a counter
key that is not one, and a production hub stores and reads back its first upload; outside production the
master key is still made on first use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hub.applications.files import AttachmentStore, FileActor
from hub.keys import APPLICATION_FILES_KEY_FILE, COUNTER_KEYS_DIR, KeyMaterialError
from hub.settings import Settings
from hub.state import build_state
from hub.uow import transaction
from tests.api.test_production_mode import _init_keys, production_settings, provisioned  # noqa: F401

pytestmark = pytest.mark.anyio

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
CLERK = FileActor("account", "prod-official", "Production Office")


def _copy(provisioned: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811
    copy = tmp_path / "keys"
    shutil.copytree(provisioned[0], copy)
    return copy


def _refused(settings: Settings, *fragments: str) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        build_state(settings)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_keys_init_makes_the_attachments_master_key_and_the_counters_folder(
    provisioned: tuple[Path, Path],  # noqa: F811
) -> None:
    keys, _ = provisioned
    master = keys / APPLICATION_FILES_KEY_FILE
    assert master.is_file() and len(master.read_bytes()) == 32
    assert os.stat(master).st_mode & 0o777 == 0o600
    assert os.stat(keys / COUNTER_KEYS_DIR).st_mode & 0o777 == 0o700
    before = master.read_bytes()
    again = _init_keys(keys)
    assert f"kept     {master}" in again.replace("\n", "")
    assert master.read_bytes() == before  # never replaced: every wrapped file key depends on it


def test_production_refuses_to_start_without_the_attachments_master_key(
    provisioned: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    keys = _copy(provisioned, tmp_path)
    (keys / APPLICATION_FILES_KEY_FILE).unlink()
    _refused(production_settings(keys, provisioned[1]), f"{keys / APPLICATION_FILES_KEY_FILE} is missing")
    assert not (keys / APPLICATION_FILES_KEY_FILE).exists()  # refused, not created
    (keys / APPLICATION_FILES_KEY_FILE).write_bytes(b"changeme" * 4)
    os.chmod(keys / APPLICATION_FILES_KEY_FILE, 0o600)
    _refused(
        production_settings(keys, provisioned[1]), f"{keys / APPLICATION_FILES_KEY_FILE} holds a placeholder"
    )


def test_production_refuses_a_counter_key_that_is_not_one(
    provisioned: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    keys = _copy(provisioned, tmp_path)
    broken = keys / COUNTER_KEYS_DIR / "org-0123456789abcdef0123.p256.pem"
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\ntruncated\n")
    os.chmod(broken, 0o600)
    _refused(production_settings(keys, provisioned[1]), f"{broken} does not hold a P-256 private key")


async def test_a_production_hub_stores_and_reads_its_first_upload(
    provisioned: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    keys = _copy(provisioned, tmp_path)
    state = build_state(production_settings(keys, provisioned[1]))
    try:
        async with transaction(state.sessions) as session:
            stored = await state.files.store(
                session,
                case_id="case-prod-1",
                kind="attachment",
                data=PDF,
                actor=CLERK,
                retention_days=30,
                request_id="prod-upload",
            )
        async with transaction(state.sessions) as session:
            opened = await state.files.open(
                session, stored.file_id, case_id="case-prod-1", actor=CLERK, request_id="prod-view"
            )
        assert opened.content == PDF
    finally:
        await state.close()


async def test_outside_production_the_master_key_is_made_on_first_use(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, environment="test")
    master = settings.effective_key_dir / APPLICATION_FILES_KEY_FILE
    assert not master.exists()
    store = AttachmentStore.for_hub(settings, trail=None)  # type: ignore[arg-type]  # nothing is recorded
    assert len(store._master()) == 32
    assert master.is_file() and os.stat(master).st_mode & 0o777 == 0o600
