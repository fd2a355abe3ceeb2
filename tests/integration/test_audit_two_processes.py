"""Two hub processes on one PostgreSQL database produce one log whose every checkpoint verifies; so do three
serving processes that only append with a dedicated integrator process beside them."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from audit.checkpoint import verify_checkpoint
from audit.merkle import verify_inclusion
from audit.verify import Report, verify_log
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
        _drop_hub(name)


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

    report = _verified(url, key)
    assert report.leaves_checked == total
    assert report.checkpoints_checked >= 2


def _verified(url: str, key: str) -> Report:
    """The whole log checked from its rows (``verify_log``), with no finding."""

    async def check() -> Report:
        async_engine = create_async_engine(url)
        try:
            return await verify_log(session_factory(async_engine), key)
        finally:
            await async_engine.dispose()

    report = asyncio.run(check())
    assert report.ok, report.findings[:5]
    return report


def _drop_hub(name: str) -> None:
    _drop_pg(name)
    for agency in ("mois", "localtax", "molit", "court", "nts", "nhis"):
        _drop_pg(f"{name}_agency_{agency}")


def test_three_serving_processes_and_a_dedicated_integrator_are_one_hub(tmp_path: Path) -> None:
    """The scale-out shape (docs/scaling.md): `gongyu serve --no-integrator` processes only append; the
    lookups wait as rows until `gongyu integrator` runs, which integrates them all into one log that verifies,
    and a proof served by any process checks against the checkpoint served by another."""
    name = f"gongyu_t_three_{secrets.token_hex(4)}"
    url = f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    settings = Settings(var_dir=tmp_path, database_url=url)
    env = {
        "GONGYU_DATABASE_URL": url,
        "GONGYU_VAR_DIR": str(tmp_path),
        "GONGYU_LOG_LEVEL": "WARNING",
        "GONGYU_PUBLIC_URL": "http://gongyu.test",
    }
    try:
        residents = _prepare(settings)
        with (
            running_hub(tmp_path / "a.log", env, args=["--no-integrator"]) as a,
            running_hub(tmp_path / "b.log", env, args=["--no-integrator"]) as b,
            running_hub(tmp_path / "c.log", env, args=["--no-integrator"]) as c,
        ):
            bases = [a, b, c]
            token = httpx.post(
                f"{a}/v1/auth/token",
                data={"grant_type": "client_credentials"},
                auth=("test-bank", "test-bank-secret"),
                timeout=10,
            ).json()["access_token"]

            def lookup(i: int) -> int:
                body = lookup_body(residents[i % len(residents)]["resident_number"])
                headers = {"Authorization": f"Bearer {token}"}
                return httpx.post(
                    f"{bases[i % 3]}/v1/lookups", json=body, headers=headers, timeout=20
                ).status_code

            with ThreadPoolExecutor(max_workers=6) as pool:
                assert list(pool.map(lookup, range(90))) == [200] * 90
            time.sleep(
                1.0
            )  # twice the default integration interval: nothing in the serving processes integrates
            engine = create_engine(sync_url(url))
            with engine.connect() as conn:
                pending = conn.execute(
                    text("SELECT count(*) FROM audit_events WHERE leaf_index IS NULL")
                ).scalar_one()
            assert pending == 90

            integrating = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "integrator", "--interval", "0.1"],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                key = httpx.get(f"{b}/v1/audit/verifier-key", timeout=5).text.strip()
                deadline = time.monotonic() + 30
                while True:
                    served = httpx.get(f"{c}/v1/audit/checkpoint", timeout=5)
                    if served.status_code == 200 and verify_checkpoint(served.text, key).size == 90:
                        break
                    assert time.monotonic() < deadline, "the integrator process integrated the served lookups"
                    time.sleep(0.2)
            finally:
                integrating.send_signal(signal.SIGTERM)
                output = integrating.communicate(timeout=20)[0].decode()
            assert integrating.returncode == 0, output

            checkpoint = verify_checkpoint(httpx.get(f"{a}/v1/audit/checkpoint", timeout=5).text, key)
            for leaf_index, base in ((0, b), (45, c), (89, a)):
                proof = httpx.get(
                    f"{base}/v1/audit/proof/inclusion",
                    params={"leaf_index": leaf_index, "tree_size": checkpoint.size},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                ).json()
                with engine.connect() as conn:
                    leaf = conn.execute(
                        text("SELECT hash FROM audit_nodes WHERE level = 0 AND idx = :i"), {"i": leaf_index}
                    ).scalar_one()
                engine_hashes = [base64.b64decode(h) for h in proof["hashes"]]
                verify_inclusion(
                    bytes(leaf), leaf_index, checkpoint.size, engine_hashes, checkpoint.root_hash
                )
            engine.dispose()

        assert _verified(url, key).leaves_checked == 90
    finally:
        _drop_hub(name)
