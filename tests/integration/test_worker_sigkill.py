"""Real ``gongyu worker`` processes on one PostgreSQL database (issue 12, Tests): one killed with SIGKILL in
the middle of a batch loses nothing, and two running side by side deliver each message exactly once.

The messages are webhooks to a receiver on 127.0.0.1 (the development switch ``GONGYU_WEBHOOK_ALLOW_PRIVATE``
lets the worker reach it) that answers slowly, so a batch is still being delivered when the worker is
killed. The receiver checks each signature with the ``standardwebhooks`` library and records every
``webhook-id`` it is sent, duplicates included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.keys import load_keyring
from hub.notify.dispatch import Dispatcher
from hub.notify.models import CREATED, DELIVERED, SENDING, OutboxRow, WebhookRow
from hub.notify.webhooks import WEBHOOK, SecretSealer, new_secret
from tests.conftest import Backend

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BATCH = 8


class Receiver:
    """A webhook receiver on 127.0.0.1 that takes ``delay`` seconds per request and keeps every id it saw."""

    def __init__(self, secret: str, delay: float) -> None:
        self.verifier = Webhook(secret)
        self.delay = delay
        self.seen: list[str] = []
        self.forged = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.verifier.verify(body, headers)
                except Exception:
                    with receiver.lock:
                        receiver.forged += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.seen.append(headers["webhook-id"])
                time.sleep(receiver.delay)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def scenario(backend: Backend, delay: float) -> Iterator[tuple[Receiver, str, Any]]:
    """A client of its own with an endpoint at a fresh receiver; yields the receiver, client id and engine."""
    settings = backend.settings
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    client_id = f"sigkill-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    receiver = Receiver(secret, delay)
    engine = create_engine(backend.sync_hub_url())
    with Session(engine) as session, session.begin():
        session.add(
            WebhookRow(
                webhook_id=str(uuid.uuid4()),
                client_id=client_id,
                url=receiver.url,
                secret_sealed=SecretSealer(keys.data_key).seal(secret),
                active=True,
                created_at=datetime.now(UTC),
            )
        )
    try:
        with receiver.running():
            yield receiver, client_id, engine
    finally:
        with Session(engine) as session, session.begin():
            session.execute(update(WebhookRow).where(WebhookRow.client_id == client_id).values(active=False))
        engine.dispose()


def seed(engine: Any, client_id: str, count: int) -> list[str]:
    """``count`` webhook messages for ``client_id``, due before anything other tests left in the outbox."""
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with Session(engine) as session, session.begin():
        for i, message_id in enumerate(ids):
            event_id = str(uuid.uuid4())
            session.add(
                OutboxRow(
                    message_id=message_id,
                    event_id=event_id,
                    kind="consent_revoke",
                    subject_commitment=None,
                    channel=WEBHOOK,
                    params={
                        "client_id": client_id,
                        "type": "consent.revoked",
                        "consent_id": str(uuid.uuid4()),
                        "event_id": event_id,
                        "occurred_at": now.isoformat(),
                    },
                    created_at=now,
                    not_before=now,
                    status=CREATED,
                    attempts=0,
                    next_attempt_at=now - timedelta(days=3650, seconds=count - i),
                )
            )
    return ids


def rows(engine: Any, ids: list[str]) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.execute(select(OutboxRow).where(OutboxRow.message_id.in_(ids))).scalars())


@contextmanager
def worker(backend: Backend, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``gongyu worker`` against the test database, output to ``log``; stopped (SIGTERM) on the way out."""
    settings = backend.settings
    handle: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker", "--interval", "0.1"],
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GONGYU_ENVIRONMENT": "test",
            "GONGYU_DATABASE_URL": settings.effective_database_url,
            "GONGYU_VAR_DIR": str(settings.var_dir),
            "GONGYU_WEBHOOK_ALLOW_PRIVATE": "true",
            "GONGYU_NOTIFY_BATCH_SIZE": str(BATCH),
            "GONGYU_NOTIFY_BACKOFF_SECONDS": "0.2",
            "GONGYU_LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
        handle.close()


def wait_for(condition: Any, timeout: float, what: str, *logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            output = "\n".join(
                f"--- {log}\n{log.read_text(errors='replace')}" for log in logs if log.exists()
            )
            raise AssertionError(f"timed out waiting for {what}\n{output}")
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_no_message(postgres_backend: Backend, tmp_path: Path) -> None:
    count = 20
    with scenario(postgres_backend, delay=0.1) as (receiver, client_id, engine):
        ids = seed(engine, client_id, count)
        first_log, second_log = tmp_path / "worker1.log", tmp_path / "worker2.log"
        with worker(postgres_backend, first_log, GONGYU_NOTIFY_LEASE_SECONDS="2") as first:
            wait_for(lambda: receiver.count() >= 2, 20, "the first deliveries", first_log)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=5)
        assert first.returncode == -signal.SIGKILL

        # What the dead worker left: messages claimed under its lease but never finished.
        orphaned = [r for r in rows(engine, ids) if r.status == SENDING]
        assert orphaned, "the worker was not killed in the middle of a batch"
        dead_worker = {r.claimed_by for r in orphaned}
        assert len(dead_worker) == 1 and len(orphaned) <= BATCH

        with worker(postgres_backend, second_log, GONGYU_NOTIFY_LEASE_SECONDS="2"):
            wait_for(
                lambda: all(r.status == DELIVERED for r in rows(engine, ids)),
                25,
                "every message to be delivered",
                second_log,
            )
        final = {r.message_id: r for r in rows(engine, ids)}
        for row in orphaned:  # taken over once the lease ran out, and finished by the second worker
            assert final[row.message_id].claimed_by not in dead_worker
            assert final[row.message_id].attempts >= 2

        seen = Counter(receiver.seen)
        assert receiver.forged == 0
        assert set(ids) <= set(seen), "a message never reached the receiver"
        duplicates = sum(n - 1 for message_id, n in seen.items() if message_id in set(ids))
        assert duplicates <= len(orphaned) <= BATCH  # at least once; only the killed batch may repeat


def test_two_worker_processes_deliver_each_message_exactly_once(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    count = 60
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    with (
        scenario(postgres_backend, delay=0.02) as (receiver, client_id, engine),
        worker(postgres_backend, logs[0]),
        worker(postgres_backend, logs[1]),
    ):
        # Both are polling before anything is due, so they compete for every batch.
        wait_for(lambda: all("delivering" in log.read_text() for log in logs), 20, "both workers", *logs)
        ids = seed(engine, client_id, count)
        wait_for(lambda: all(r.status == DELIVERED for r in rows(engine, ids)), 25, "every message", *logs)
        final = rows(engine, ids)
    seen = Counter(m for m in receiver.seen if m in set(ids))
    assert receiver.forged == 0
    assert set(seen) == set(ids) and set(seen.values()) == {1}, "a message was delivered twice or never"
    assert all(r.attempts == 1 for r in final)
    assert len({r.claimed_by for r in final}) == 2, "one worker did all the work: no competition shown"


def test_one_claim_takes_one_batch_on_postgres(postgres_backend: Backend) -> None:
    """A claim locks its batch, then updates exactly those rows (an UPDATE over a ``LIMIT ... SKIP LOCKED``
    subquery took every due row: PostgreSQL rescans the subquery and skips the rows it just updated)."""
    with scenario(postgres_backend, delay=0) as (_, client_id, engine):
        ids = seed(engine, client_id, 3 * BATCH)

        async def claim_twice() -> list[int]:
            async_engine = create_async_engine(postgres_backend.settings.effective_database_url)
            try:
                dispatcher = Dispatcher(session_factory(async_engine), b"k" * 32, batch_size=BATCH)
                return [len(await dispatcher.claim()), len(await dispatcher.claim())]
            finally:
                await async_engine.dispose()

        assert asyncio.run(claim_twice()) == [BATCH, BATCH]
        assert sum(r.status == SENDING for r in rows(engine, ids)) == 2 * BATCH
        with Session(engine) as session, session.begin():  # leave nothing claimed for other tests' workers
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.message_id.in_(ids))
                .values(status=DELIVERED, claimed_until=None)
            )
