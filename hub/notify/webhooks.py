"""The webhook channel: client systems (banks, agencies) hear at once that a consent they hold changed.

A bank that keeps using a consent the resident has revoked learns so only when its next lookup is refused;
a webhook tells it when the change commits, so it can stop its own processes (a loan file, a standing
query) at once. The events are the consent's own changes (:data:`EVENT_TYPES`); the outbox row is written by
``outbox.announce`` in the transaction of the audit event, like every notice, only for a client that has an
endpoint.

Deliveries follow the Standard Webhooks specification (PyPI ``standardwebhooks``): the body is
``{"type", "timestamp", "data"}``, the headers ``webhook-id`` (the outbox message id: stable across
retries, so the receiver drops duplicates), ``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256
under the endpoint's secret ``whsec_...``). The payload names the consent and the event, never the resident:
the bank already knows whose consent it holds.

A 2xx answer is delivered; anything else, or no answer, is retried with the dispatcher's back-off until the
attempts run out (``permanent-failure``, a dead letter an operator can see).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from audit import AuditEvent
from audit.events import utcnow
from consent.models import ConsentRow
from hub.notify import ssrf
from hub.notify.models import WebhookRow

if TYPE_CHECKING:  # dispatch imports the outbox, which imports this module: the channel's types only here
    from hub.notify.dispatch import Message

WEBHOOK: Final = "webhook"
# Audit event kind → the webhook's event type (the names a client system switches on).
EVENT_TYPES: Final = {
    "consent_approve": "consent.approved",
    "consent_pause": "consent.paused",
    "consent_resume": "consent.resumed",
    "consent_revoke": "consent.revoked",
    # Written by the sweep (hub/notify/sweep.py): no request causes them.
    "consent_expired": "consent.expired",
    "consent_exhausted": "consent.exhausted",
}
_AAD: Final = b"webhook-secret"


class SecretSealer:
    """AES-256-GCM under the hub's data key, with associated data of its own (no other sealed value opens)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), _AAD)).decode()

    def open(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode()


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, *, production: bool, allow_private: bool = False) -> str:
    """An endpoint the hub will POST to: http(s) with a host; https on its default port only in production
    (the body is signed, not encrypted); no address of the hub's own network (``hub.notify.ssrf``).
    ``ssrf.Refused`` (a ``ValueError``) says why not."""
    ssrf.check_url(url, ssrf.Policy(allow_private=allow_private and not production, production=production))
    return url


async def register(
    session: AsyncSession,
    data_key: bytes,
    client_id: str,
    url: str,
    *,
    production: bool = False,
    allow_private: bool = False,
) -> tuple[WebhookRow, str]:
    """Register (or replace) ``client_id``'s endpoint; the row and the secret, which is never shown again.

    The URL's name must not lead into the hub's network today (each delivery checks it again).
    """
    check_url(url, production=production, allow_private=allow_private)
    policy = ssrf.Policy(allow_private=allow_private and not production, production=production)
    await ssrf.check_endpoint(url, policy)
    await session.execute(
        update(WebhookRow)
        .where(WebhookRow.client_id == client_id, WebhookRow.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    secret = new_secret()
    row = WebhookRow(
        webhook_id=str(uuid.uuid4()),
        client_id=client_id,
        url=url,
        secret_sealed=SecretSealer(data_key).seal(secret),
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row, secret


USER_AGENT: Final = "Gongyu-Webhooks/1"
# What is read of a receiver's answer (only its status matters): enough to keep the connection for the next
# delivery; a longer body is dropped with its connection.
ANSWER_LIMIT: Final = 64 * 1024


async def _exchange(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """One request and its answer, read (up to :data:`ANSWER_LIMIT`) and closed, so that the connection can
    carry the next delivery."""
    answer = await transport.handle_async_request(request)
    try:
        read = 0
        if not answer.is_stream_consumed:  # a test's in-memory transport hands over answers already read
            async for chunk in answer.aiter_raw():
                read += len(chunk)
                if read > ANSWER_LIMIT:
                    break
    finally:
        await answer.aclose()
    return answer


@dataclass(frozen=True)
class Endpoint:
    """A client's current endpoint, ready to sign with (its secret opened once for a whole batch)."""

    url: httpx.URL  # parsed once for the batch, not per delivery
    signer: Webhook


async def params_for(session: AsyncSession, event: AuditEvent) -> dict[str, Any] | None:
    """The webhook message ``event`` calls for, or None (not a consent change, or no endpoint registered).

    Consent events name their consent in ``reason`` (``consent:<id>``); the consent names its recipient.
    """
    event_type = EVENT_TYPES.get(event.kind)
    if event_type is None or not (event.reason or "").startswith("consent:"):
        return None
    consent_id = (event.reason or "").removeprefix("consent:")
    found = await session.execute(select(ConsentRow.recipient_id).where(ConsentRow.consent_id == consent_id))
    client_id = found.scalar_one_or_none()
    if client_id is None:
        return None
    endpoint = await session.execute(
        select(WebhookRow.webhook_id)
        .where(WebhookRow.client_id == client_id, WebhookRow.active.is_(True))
        .limit(1)
    )
    if endpoint.first() is None:
        return None
    return {
        "client_id": client_id,
        "type": event_type,
        "consent_id": consent_id,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at.isoformat(),
    }


def payload(message: Message) -> str:
    """The body a client receives (Standard Webhooks' ``type``/``timestamp``/``data``), as sent and signed."""
    params = message.params
    body = {
        "type": params["type"],
        "timestamp": params["occurred_at"],
        "data": {
            "consent_id": params["consent_id"],
            "event_id": params["event_id"],
            "occurred_at": params["occurred_at"],
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class WebhookChannel:
    """Signs and POSTs messages to their client's current endpoint (read at delivery: a replaced endpoint
    gets the messages still owed).

    A batch's endpoints are read in one query (:meth:`prepare`) and its messages then sent side by side
    (:meth:`send`, the dispatcher bounds how many) over at most ``max_connections`` connections per endpoint
    name, kept alive and reused. The network is reached through ``ssrf.GuardedTransport`` under ``policy``:
    the endpoint's name is resolved and checked for every delivery (the answer kept a few seconds) and the
    connection made to a checked address. ``transport`` replaces the network altogether (a test's in-memory
    receiver) and is used as given.
    """

    def __init__(
        self,
        data_key: bytes,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: ssrf.Policy | None = None,
        max_connections: int = 16,
    ) -> None:
        self.sealer = SecretSealer(data_key)
        self.timeout = timeout
        self.policy = policy or ssrf.Policy()
        self._timeouts = httpx.Timeout(timeout).as_dict()
        # The guarded network as ``max_connections`` lanes, each a transport of its own with one connection
        # per endpoint name, taken by one delivery at a time: httpcore's pool looks over all its connections
        # twice per request, which with a dozen kept-alive connections was two fifths of a busy worker's time.
        self._lanes: asyncio.Queue[httpx.AsyncBaseTransport] | None = None
        self._all_lanes: list[httpx.AsyncBaseTransport] = []
        if transport is None:
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            tls: list[ssl.SSLContext] = []

            def connection() -> httpx.AsyncHTTPTransport:
                # One TLS context for every lane (each would otherwise load the CA bundle: ~30 ms of CPU).
                if not tls:
                    tls.append(httpx.create_ssl_context())
                return httpx.AsyncHTTPTransport(limits=one, verify=tls[0])

            self._all_lanes = [
                ssrf.GuardedTransport(self.policy, make_transport=connection)
                for _ in range(max(1, max_connections))
            ]
            transport = self._all_lanes[0]
        self.transport = transport

    async def aclose(self) -> None:
        for lane in self._all_lanes or [self.transport]:
            await lane.aclose()

    async def _post(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through a free lane (or the transport given), its answer read and closed."""
        if not self._all_lanes:
            return await _exchange(self.transport, request)
        if self._lanes is None:
            self._lanes = asyncio.Queue()
            for lane in self._all_lanes:
                self._lanes.put_nowait(lane)
        lane = await self._lanes.get()
        try:
            return await _exchange(lane, request)
        finally:
            self._lanes.put_nowait(lane)

    async def prepare(self, session: AsyncSession, messages: Sequence[Message]) -> dict[str, Endpoint]:
        """The current endpoint of each client these messages are for, in one read; each secret opened and
        made a signer once, however many messages it signs."""
        clients = {str(m.params["client_id"]) for m in messages if m.params.get("client_id")}
        if not clients:
            return {}
        found = await session.execute(
            select(WebhookRow.client_id, WebhookRow.url, WebhookRow.secret_sealed).where(
                WebhookRow.client_id.in_(clients), WebhookRow.active.is_(True)
            )
        )
        endpoints: dict[str, Endpoint] = {}
        for client_id, url, sealed in found.all():
            if client_id not in endpoints:  # one active endpoint per client (a new one deactivates the old)
                endpoints[client_id] = Endpoint(httpx.URL(url), Webhook(self.sealer.open(sealed)))
        return endpoints

    async def deliver(self, session: AsyncSession, message: Message) -> str | None:
        """One message on its own (the plain ``Channel`` form): read, end the read, then send."""
        endpoints = await self.prepare(session, [message])
        # End the read before the network call (as the broker does before an agency answers): no connection
        # or SQLite lock is held while a slow receiver makes up its mind.
        await session.commit()
        return await self.send(message, endpoints)

    async def send(self, message: Message, prepared: dict[str, Endpoint]) -> str | None:
        """Sign (once) and POST one message to its client's endpoint; a 2xx answer is delivered."""
        from hub.notify.dispatch import PermanentFailure

        endpoint = prepared.get(str(message.params.get("client_id") or ""))
        if endpoint is None:
            raise PermanentFailure("no webhook endpoint")
        body = payload(message)
        now = datetime.now(UTC)
        signature = endpoint.signer.sign(message.message_id, now, body)
        # Straight to the transport, without an ``httpx.AsyncClient`` around it: a client adds cookies, auth,
        # redirects and proxies from the environment, none of which a webhook may have (no redirect could be
        # followed to an unchecked address, no proxy would connect where the guard checked), and at hundreds
        # of deliveries a second its bookkeeping was a fifth of the worker's time.
        request = httpx.Request(
            "POST",
            endpoint.url,
            content=body.encode(),
            headers={
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": message.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
            extensions={"timeout": self._timeouts},
        )
        try:
            answer = await self._post(request)
        except ssrf.Refused as exc:
            # The endpoint now leads into the hub's own network (its DNS changed since registration): no
            # connection was made, and retrying would only ask again. The client registers a proper URL.
            raise PermanentFailure(f"webhook endpoint refused: {exc}") from None
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"webhook answered {answer.status_code}")
        return None
