"""Two hub processes on one PostgreSQL database produce one log whose every checkpoint verifies."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from audit.checkpoint import verify_checkpoint
from audit.verify import verify_log
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg, _prepare, lookup_body
from tests.servers import running_hub

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_processes_appending_concurrently_yield_one_consistent_log(tmp_path: Path) -> None:
    name = f"gongyu_t_two_{secrets.token_hex(4)}"
    url = f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    settings = Settings(var_dir=tmp_path, database_url=url)
    try:
        residents = _prepare(settings)
        env = {
            "GONGYU_DATABASE_URL": url,
            "GONGYU_VAR_DIR": str(tmp_path),
            "GONGYU_INTEGRATOR_INTERVAL_SECONDS": "0.2",
            "GONGYU_LOG_LEVEL": "WARNING",
            "GONGYU_PUBLIC_URL": "http://gongyu.test",  # one hub behind a load balancer: one issuer
        }
        with (
            running_hub(tmp_path / "server0.log", env) as first,
            running_hub(tmp_path / "server1.log", env) as second,
        ):
            _append_concurrently_and_verify(url, [first, second], residents)
    finally:
        _drop_pg(name)
        for agency in ("mois", "localtax", "molit", "court", "nts", "nhis"):
            _drop_pg(f"{name}_agency_{agency}")


def _append_concurrently_and_verify(url: str, bases: list[str], residents: list[dict[str, str]]) -> None:
    token = httpx.post(
        f"{bases[0]}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("test-bank", "test-bank-secret"),
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def lookup(i: int) -> int:
        base = bases[i % 2]
        body = lookup_body(residents[i % len(residents)]["resident_number"])
        return httpx.post(f"{base}/v1/lookups", json=body, headers=headers, timeout=20).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lookup, range(120)))
    assert statuses.count(200) == 120

    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    engine.dispose()
    assert total == 120

    key = httpx.get(f"{bases[1]}/v1/audit/verifier-key", timeout=5).text.strip()
    deadline = time.monotonic() + 20
    while True:
        note = httpx.get(f"{bases[1]}/v1/audit/checkpoint", timeout=5).text
        if verify_checkpoint(note, key).size == total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert verify_checkpoint(note, key).size == total, "both processes' events were integrated"

    async def check() -> None:
        async_engine = create_async_engine(url)
        try:
            report = await verify_log(session_factory(async_engine), key)
        finally:
            await async_engine.dispose()
        assert report.ok, report.findings[:5]
        assert report.leaves_checked == total
        assert report.checkpoints_checked >= 2

    asyncio.run(check())
