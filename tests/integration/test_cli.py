"""The ``gongyu`` command line on a fresh embedded database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers.append_only import lift_append_only

pytestmark = pytest.mark.slow


def gongyu(var: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GONGYU_VAR_DIR": str(var), "GONGYU_SANDBOX_RESIDENT_COUNT": "300", **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_setup_migrates_seeds_and_creates_demo_principals(tmp_path: Path) -> None:
    result = gongyu(tmp_path, "demo", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert "demo-bank / demo-bank-secret" in result.stderr
    assert (tmp_path / "keys" / "audit-pepper").stat().st_mode & 0o077 == 0, (
        "secrets are private to the owner"
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'gongyu_agency_mois.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM residents")).scalar_one() == 300
    engine.dispose()
    again = gongyu(tmp_path, "demo", "--no-serve")
    assert again.returncode == 0, "the demo setup is idempotent"
    engine = create_engine(f"sqlite:///{tmp_path / 'gongyu.db'}")
    with engine.connect() as conn:
        mail = conn.execute(text("SELECT email, language FROM accounts WHERE username = 'resident1'")).one()
    assert tuple(mail) == ("resident1@demo.gongyu.test", "ko")

    # A receiver on this machine only with the development switch (hub/notify/ssrf.py).
    local = "http://127.0.0.1:9000/hooks"
    refused = gongyu(tmp_path, "clients", "webhook", "demo-bank", local, GONGYU_WEBHOOK_ALLOW_PRIVATE="false")
    assert refused.returncode == 2 and "loopback" in refused.stderr
    hook = gongyu(tmp_path, "clients", "webhook", "demo-bank", local, GONGYU_WEBHOOK_ALLOW_PRIVATE="true")
    assert hook.returncode == 0, hook.stderr
    [secret] = [w for w in hook.stderr.split() if w.startswith("whsec_")]
    with engine.connect() as conn:
        sealed = conn.execute(text("SELECT secret_sealed FROM webhooks WHERE client_id = 'demo-bank'")).one()
    engine.dispose()
    assert secret not in sealed[0], "the secret is stored sealed, not in clear"
    unknown = gongyu(tmp_path, "clients", "webhook", "no-such-client", "https://bank.example/hooks")
    assert unknown.returncode == 2 and "no client" in unknown.stderr


def test_clients_add_json_prints_the_secret_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    assert gongyu(tmp_path, "migrate").returncode == 0
    result = gongyu(
        tmp_path,
        "clients",
        "add",
        "--name",
        "Hana Bank",
        "--kind",
        "bank",
        "--statute",
        "KR-FTRA-5-2",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["client_id"].startswith("bank-") and len(created["client_secret"]) >= 32
    engine = create_engine(f"sqlite:///{tmp_path / 'gongyu.db'}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash, statutes FROM clients")).one()
    engine.dispose()
    assert created["client_secret"] not in stored.secret_hash and stored.secret_hash.startswith("$argon2id$")
    assert json.loads(stored.statutes) == ["KR-FTRA-5-2"]


def test_clients_add_refuses_an_unknown_kind_with_a_clear_message(tmp_path: Path) -> None:
    assert gongyu(tmp_path, "migrate").returncode == 0
    result = gongyu(tmp_path, "clients", "add", "--name", "X", "--kind", "casino")
    assert result.returncode == 2
    assert "kind must be 'bank' or 'agency'" in result.stderr


def test_audit_verify_export_and_prove_from_the_command_line(tmp_path: Path) -> None:
    import asyncio

    from audit import AuditEvent, AuditLog
    from audit.integrator import Integrator
    from audit.signer import LogSigner
    from hub.db import create_engine as create_async_engine
    from hub.db import session_factory
    from hub.keys import load_keyring
    from hub.settings import Settings

    assert gongyu(tmp_path, "migrate").returncode == 0
    settings = Settings(var_dir=tmp_path)
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def fill() -> None:
        engine = create_async_engine(settings.effective_database_url)
        sessions = session_factory(engine)
        for i in range(10):
            await AuditLog(sessions).append(
                AuditEvent(kind="lookup", actor_kind="client", actor_id="bank-1", outcome="ok", view=f"v{i}")
            )
        await Integrator(sessions, LogSigner(settings.origin, keys.log_key.private_key)).integrate_once()
        await engine.dispose()

    asyncio.run(fill())
    verified = gongyu(tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "log verified" in verified.stderr and "10 leaves" in verified.stderr

    exported = gongyu(tmp_path, "audit", "export", "--out", str(tmp_path / "x.csv"), "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    signed = json.loads((tmp_path / "x.csv.manifest.json").read_text())
    assert signed["manifest"]["rows"] == 10
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 11

    proof = gongyu(tmp_path, "audit", "prove", "--leaf", "3")
    assert proof.returncode == 0, proof.stderr
    assert json.loads(proof.stdout)["tree_size"] == 10

    engine = create_engine(f"sqlite:///{tmp_path / 'gongyu.db'}")
    with engine.begin() as conn:
        lift_append_only(conn)  # the database refuses edits since migration 0007: a tamperer steps round it
        conn.execute(text("UPDATE audit_events SET view = 'tampered' WHERE leaf_index = 4"))
    engine.dispose()
    tampered = gongyu(tmp_path, "audit", "verify")
    assert tampered.returncode == 1
    assert "edited leaf=4" in tampered.stderr
