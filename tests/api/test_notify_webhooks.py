"""Webhooks for client systems (issue 12, part two): a consent change writes a ``webhook`` outbox row for the
client holding the consent, in the change's transaction; the worker POSTs it signed per Standard Webhooks,
which the ``standardwebhooks`` library verifies (and a tampered body does not); a failing receiver is retried
with the same ``webhook-id`` until it answers 2xx, or the message becomes a dead letter.

The receiver is an ``httpx.MockTransport`` injected into the channel: the same HTTP requests, no port.
Consents here are granted to ``test-bank`` through the API, as in the consent tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hub.app import create_app
from hub.notify import ssrf
from hub.notify.dispatch import Dispatcher, InboxChannel, Message, PermanentFailure, RetryPolicy
from hub.notify.models import DELIVERED, PERMANENT_FAILURE, OutboxRow, WebhookRow
from hub.notify.outbox import INBOX
from hub.notify.webhooks import WEBHOOK, Endpoint, SecretSealer, WebhookChannel, new_secret
from hub.state import HubState
from tests.conftest import Backend, account_bearer, bearer
from tests.helpers.consent_flow import granted

pytestmark = pytest.mark.anyio
FINAL = {DELIVERED, PERMANENT_FAILURE}


@pytest.fixture
async def api(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    settings = backend.settings.model_copy(update={"notify_interval_seconds": 0})
    app = create_app(settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client
    # Later tests grant consents to test-bank too: its endpoint here is gone, and they owe it nothing.
    async with hub_state.sessions() as session, session.begin():
        mine = WebhookRow.client_id == "test-bank"
        await session.execute(update(WebhookRow).where(mine).values(active=False))


async def register(api: httpx.AsyncClient, state: HubState) -> str:
    answer = await api.post("/v1/webhooks", json={"url": "http://bank.test/hooks"}, headers=bearer(state))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["secret"].startswith("whsec_") and "consent.revoked" in body["events"]
    return str(body["secret"])


async def webhook_rows(state: HubState, consent_id: str) -> list[OutboxRow]:
    async with state.sessions() as session:
        rows = await session.execute(select(OutboxRow).where(OutboxRow.channel == WEBHOOK))
        return [r for r in rows.scalars() if r.params.get("consent_id") == consent_id]


def worker(state: HubState, handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> Dispatcher:
    channel = WebhookChannel(state.keys.data_key, transport=httpx.MockTransport(handler))
    return Dispatcher(
        state.sessions, state.keys.data_key, channels={INBOX: InboxChannel(), WEBHOOK: channel}, **options
    )


async def until_final(state: HubState, dispatcher: Dispatcher, consent_id: str) -> list[OutboxRow]:
    for _ in range(200):
        await dispatcher.run_once()
        rows = await webhook_rows(state, consent_id)
        if rows and all(r.status in FINAL for r in rows):
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError("webhook messages did not reach a final status")


async def test_consent_changes_reach_the_bank_signed_and_verifiable(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    secret = await register(api, hub_state)
    consent_id = await granted(api, hub_state, mode="standing", max_uses=3)
    for action in ("pause", "resume", "revoke"):
        changed = await api.post(
            f"/v1/me/consents/{consent_id}/{action}", headers=account_bearer(hub_state, "resident0")
        )
        assert changed.status_code == 200, changed.text
    written = await webhook_rows(hub_state, consent_id)
    assert sorted(r.params["type"] for r in written) == [
        "consent.approved",
        "consent.paused",
        "consent.resumed",
        "consent.revoked",
    ]

    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    rows = await until_final(hub_state, worker(hub_state, receiver), consent_id)
    assert {r.status for r in rows} == {DELIVERED}
    mine = {r.message_id: r for r in rows}
    verifier = Webhook(secret)
    seen = set()
    for request in received:
        headers = {k: v for k, v in request.headers.items()}
        if headers["webhook-id"] not in mine:
            continue  # another test's consent, delivered by this worker too
        body = verifier.verify(request.content, headers)
        assert body["data"]["consent_id"] == consent_id
        assert body["type"] == mine[headers["webhook-id"]].params["type"]
        assert "subject" not in request.content.decode()  # the payload never names the resident
        seen.add(headers["webhook-id"])
        tampered = request.content.replace(b"consent.", b"consent-")
        with pytest.raises(WebhookVerificationError):
            verifier.verify(tampered, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request.content, headers)  # another secret
    assert seen == set(mine)


async def test_a_receiver_failing_twice_gets_retries_with_the_same_id_then_the_message(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    await register(api, hub_state)
    consent_id = await granted(api, hub_state)
    attempts: dict[str, int] = {}

    def flaky(request: httpx.Request) -> httpx.Response:
        message_id = request.headers["webhook-id"]
        attempts[message_id] = attempts.get(message_id, 0) + 1
        return httpx.Response(500 if attempts[message_id] <= 2 else 200)

    retry = RetryPolicy(max_attempts=5, base_seconds=0.001, cap_seconds=0.001)
    [row] = await until_final(hub_state, worker(hub_state, flaky, retry=retry), consent_id)
    assert row.status == DELIVERED and row.attempts == 3 and attempts[row.message_id] == 3


async def test_a_receiver_that_keeps_failing_leaves_a_dead_letter(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    await register(api, hub_state)
    consent_id = await granted(api, hub_state)
    retry = RetryPolicy(max_attempts=3, base_seconds=0.001, cap_seconds=0.001)
    down = worker(hub_state, lambda request: httpx.Response(503), retry=retry)
    [row] = await until_final(hub_state, down, consent_id)
    assert row.status == PERMANENT_FAILURE and row.attempts == 3
    assert row.last_error is not None and "503" in row.last_error


async def test_the_secret_is_stored_sealed_and_a_new_registration_replaces_the_old(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    first = await register(api, hub_state)
    second = await register(api, hub_state)
    async with hub_state.sessions() as session:
        rows = (
            await session.execute(
                select(WebhookRow).where(WebhookRow.client_id == "test-bank", WebhookRow.active.is_(True))
            )
        ).scalars()
        [active] = list(rows)
    assert first not in active.secret_sealed and second not in active.secret_sealed
    assert SecretSealer(hub_state.keys.data_key).open(active.secret_sealed) == second


async def test_registration_needs_a_client_token_and_an_http_url(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    assert (await api.post("/v1/webhooks", json={"url": "http://bank.test/h"})).status_code == 401
    bad = await api.post("/v1/webhooks", json={"url": "ftp://bank.test/h"}, headers=bearer(hub_state))
    assert bad.status_code == 422


class KeepAliveReceiver:
    """A bare HTTP/1.1 endpoint on 127.0.0.1 answering 204 and keeping connections open, counting them."""

    def __init__(self) -> None:
        self.connections = 0
        self.ids: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                headers = {
                    k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.ids.append(headers["webhook-id"])
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def _message(client_id: str) -> Message:
    message_id = str(uuid.uuid4())
    params = {"client_id": client_id, "type": "consent.revoked", "consent_id": "c", "event_id": "e"}
    return Message(
        seq=0,
        message_id=message_id,
        event_id="e",
        kind="consent_revoke",
        channel=WEBHOOK,
        subject_commitment=None,
        params={**params, "occurred_at": "2026-12-01T00:00:00+00:00"},
        attempts=1,
        code="",
    )


async def test_the_guarded_network_sends_side_by_side_over_a_few_kept_alive_connections() -> None:
    """The production path (no injected transport): every delivery through the SSRF guard, over at most
    ``max_connections`` connections, each reused for the next delivery; a private address stays refused
    where the policy says so, without a connection."""
    receiver = KeepAliveReceiver()
    url = await receiver.start()
    secret = new_secret()
    try:
        channel = WebhookChannel(b"k" * 32, policy=ssrf.Policy(allow_private=True), max_connections=3)
        endpoints = {"bank": Endpoint(httpx.URL(url), Webhook(secret))}
        messages = [_message("bank") for _ in range(30)]
        await asyncio.gather(*(channel.send(m, endpoints) for m in messages))
        assert sorted(receiver.ids) == sorted(m.message_id for m in messages)
        assert 1 <= receiver.connections <= 3  # kept alive: 30 deliveries, at most 3 connections
        await channel.aclose()

        strict = WebhookChannel(b"k" * 32, policy=ssrf.Policy(allow_private=False))
        with pytest.raises(PermanentFailure, match="loopback"):
            await strict.send(_message("bank"), endpoints)
        assert len(receiver.ids) == 30
    finally:
        await receiver.stop()
