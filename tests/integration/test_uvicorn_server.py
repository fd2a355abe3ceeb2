"""The hub served by a real uvicorn process, driven over TCP on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path / "server.log"
    env = {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir), "GONGYU_LOG_LEVEL": "INFO"}
    with running_hub(log_path, env) as base:
        yield base, log_path


def test_real_server_issues_tokens_and_answers_lookups(
    server: tuple[str, Path], sqlite_backend: Backend
) -> None:
    base, log_path = server
    token = httpx.post(
        f"{base}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("test-bank", "test-bank-secret"),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    resident = sqlite_backend.residents[0]
    ok = httpx.post(
        f"{base}/v1/lookups", json=lookup_body(resident["resident_number"]), headers=headers, timeout=10
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["fields"]["name"] == resident["name_ko"]
    assert ok.headers["x-request-id"]
    denied = httpx.post(
        f"{base}/v1/lookups",
        json=lookup_body(resident["resident_number"], statute="KR-RRA-29-2-2"),
        headers=headers,
        timeout=10,
    )
    assert denied.status_code == 403
    assert httpx.get(f"{base}/openapi.json", timeout=10).json()["openapi"].startswith("3.1")
    time.sleep(0.3)
    log = log_path.read_text()
    assert ok.headers["x-request-id"] in log, "the access log line carries the request id"
    assert resident["resident_number"].replace("-", "") not in log.replace("-", "")


def test_a_running_hub_verifies_from_outside_with_an_auditor_token(
    server: tuple[str, Path], sqlite_backend: Backend
) -> None:
    from audit.remote import verify_remote

    base, _ = server
    token = httpx.post(
        f"{base}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("test-bank", "test-bank-secret"),
        timeout=10,
    ).json()["access_token"]
    for resident in sqlite_backend.residents[:3]:
        httpx.post(
            f"{base}/v1/lookups",
            json=lookup_body(resident["resident_number"]),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    time.sleep(1.5)  # the server's own integrator signs a checkpoint at least every second
    auditor = httpx.post(
        f"{base}/v1/auth/login", json={"username": "auditor", "password": "auditor-pw"}, timeout=10
    ).json()["access_token"]
    key = httpx.get(f"{base}/v1/audit/verifier-key", timeout=5).text.strip()
    report = verify_remote(base, auditor, key)
    assert report.ok, report.problems
    assert report.leaves_checked == report.tree_size >= 3

    cli = subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify", "--url", base, "--verifier-key", key],
        env={**os.environ, "GONGYU_AUDITOR_TOKEN": auditor},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "leaves match" in cli.stderr
    wrong_key = key.rsplit("+", 1)[0] + "+AQ" + "A" * 42 + "="
    assert not verify_remote(base, None, wrong_key).ok
