"""Two hub processes on one PostgreSQL database produce one log whose every checkpoint verifies."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
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
from tests.integration.test_uvicorn_server import _free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=handle,
        )


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server at {base} did not start:\n{log.read_text()}")


def test_two_processes_appending_concurrently_yield_one_consistent_log(tmp_path: Path) -> None:
    name = f"gongyu_t_two_{secrets.token_hex(4)}"
    url = f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    settings = Settings(var_dir=tmp_path, database_url=url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        residents = _prepare(settings)
        env = {
            **os.environ,
            "GONGYU_DATABASE_URL": url,
            "GONGYU_VAR_DIR": str(tmp_path),
            "GONGYU_INTEGRATOR_INTERVAL_SECONDS": "0.2",
            "GONGYU_LOG_LEVEL": "WARNING",
        }
        bases = []
        for i in range(2):
            port = _free_port()
            log = tmp_path / f"server{i}.log"
            processes.append(_start(port, env, log))
            bases.append((f"http://127.0.0.1:{port}", log))
        for (base, log), process in zip(bases, processes, strict=True):
            _wait_ready(base, process, log)

        token = httpx.post(
            f"{bases[0][0]}/v1/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("test-bank", "test-bank-secret"),
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def lookup(i: int) -> int:
            base = bases[i % 2][0]
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

        key = httpx.get(f"{bases[1][0]}/v1/audit/verifier-key", timeout=5).text.strip()
        deadline = time.monotonic() + 20
        while True:
            note = httpx.get(f"{bases[1][0]}/v1/audit/checkpoint", timeout=5).text
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
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        _drop_pg(name)
        _drop_pg(f"{name}_agency_mois")
