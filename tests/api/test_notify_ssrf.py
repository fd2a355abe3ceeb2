"""Webhook URLs cannot make the hub POST into its own network (``hub.notify.ssrf``), at registration and again
at delivery.

Registration: a table of hostile URLs (private, loopback, link-local and metadata, CGNAT, multicast,
unspecified, IPv4-mapped IPv6, numeric IPv4 spellings, a name that resolves to 127.0.0.1) is refused with a
``webhook-url-refused`` problem in the caller's language, and nothing is registered. Delivery: an endpoint
whose DNS answer changed to a private address after registration ends as a permanent failure and no
connection is made; a name that resolves to an allowed address is reached at that address, with the name
kept in the ``Host`` header and, over TLS, as the server name the certificate is checked against.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update

from hub.app import create_app
from hub.notify import ssrf
from hub.notify.dispatch import Dispatcher, InboxChannel
from hub.notify.models import DELIVERED, PERMANENT_FAILURE, OutboxRow, WebhookRow
from hub.notify.outbox import INBOX
from hub.notify.webhooks import WEBHOOK, WebhookChannel
from hub.settings import Settings
from hub.state import HubState
from tests.conftest import Backend, bearer
from tests.helpers.consent_flow import granted
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

STRICT = ssrf.Policy()
DEV = ssrf.Policy(allow_private=True)
PRODUCTION = ssrf.Policy(production=True)

# URL → the reason code it is refused with, under the strict policy (the development/test default).
HOSTILE = {
    "http://10.0.0.1/": "address-not-allowed",
    "http://172.16.5.4:8080/hook": "address-not-allowed",
    "http://192.168.1.1/": "address-not-allowed",
    "http://169.254.169.254/latest/meta-data/": "address-not-allowed",
    "http://127.0.0.1:8000/v1/lookups": "address-not-allowed",
    "http://[::1]/": "address-not-allowed",
    "http://[::ffff:127.0.0.1]/": "address-not-allowed",
    "http://[::ffff:a9fe:a9fe]/": "address-not-allowed",  # 169.254.169.254, IPv4-mapped in hex
    "http://[64:ff9b::a00:1]/": "address-not-allowed",  # NAT64 form of 10.0.0.1
    "http://[2002:c0a8:101::1]/": "address-not-allowed",  # 6to4 form of 192.168.1.1
    "http://[fd00::1]/": "address-not-allowed",
    "http://[fe80::1]/": "address-not-allowed",
    "http://100.64.0.1/": "address-not-allowed",
    "http://224.0.0.1/": "address-not-allowed",
    "http://0.0.0.0/": "address-not-allowed",
    "http://[::]/": "address-not-allowed",
    "http://0x7f000001/": "address-form",
    "http://2130706433/": "address-form",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/": "address-form",  # octal
    "http://127.1/": "address-form",  # short form
    "http://0xa9.0xfe.0xa9.0xfe/": "address-form",  # the metadata address in hex parts
    "http://localhost:8000/": "address-not-allowed",  # a name that resolves to 127.0.0.1
    "ftp://bank.example/hook": "url",
    "http:///nohost": "url",
}


@pytest.mark.parametrize(("url", "reason"), sorted(HOSTILE.items()))
async def test_hostile_urls_are_refused_before_anything_is_stored(url: str, reason: str) -> None:
    with pytest.raises(ssrf.Refused) as refused:
        await ssrf.check_endpoint(url, STRICT)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("::ffff:10.1.2.3", "private"),
        ("::a01:203", "private"),  # IPv4-compatible form of 10.1.2.3
        ("169.254.169.254", "link-local"),
        ("100.100.100.200", "shared"),  # a cloud metadata address inside CGNAT space
        ("198.18.0.1", "reserved"),  # benchmarking range: not globally routable
        ("192.0.2.10", "reserved"),  # documentation range
        ("ff02::1", "multicast"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_each_address_is_classified_by_where_it_leads(address: str, kind: str | None) -> None:
    assert ssrf.address_kind(ipaddress.ip_address(address)) == kind


async def test_the_development_switch_lets_loopback_and_private_receivers_through_but_not_metadata() -> None:
    await ssrf.check_endpoint("http://127.0.0.1:8765/hook", DEV)
    await ssrf.check_endpoint("http://localhost:8765/hook", DEV)
    await ssrf.check_endpoint("http://10.0.0.7/hook", DEV)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/"):
        with pytest.raises(ssrf.Refused):
            await ssrf.check_endpoint(url, DEV)


async def test_production_wants_https_on_its_default_port_and_refuses_the_switch() -> None:
    await ssrf.check_endpoint("https://93.184.216.34/hook", PRODUCTION)
    await ssrf.check_endpoint("https://93.184.216.34:443/hook", PRODUCTION)
    for url, reason in [
        ("http://93.184.216.34/hook", "https-required"),
        ("https://93.184.216.34:8443/hook", "port-not-allowed"),
    ]:
        with pytest.raises(ssrf.Refused) as refused:
            await ssrf.check_endpoint(url, PRODUCTION)
        assert refused.value.reason == reason
    settings = Settings(environment="production", webhook_allow_private=True)
    assert any("GONGYU_WEBHOOK_ALLOW_PRIVATE" in p for p in settings.production_problems())
    assert ssrf.Policy.from_settings(settings).allow_private is False
    assert ssrf.Policy.from_settings(Settings(environment="test", webhook_allow_private=True)).allow_private


async def test_a_name_with_one_private_answer_among_public_ones_is_refused() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(ssrf.Refused):
        await ssrf.check_endpoint("https://hooks.bank.example/h", STRICT, rebinding)


# --- through the API and the worker ------------------------------------------------------------------------


@pytest.fixture
async def api(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client
    async with hub_state.sessions() as session, session.begin():  # other tests owe test-bank nothing
        await session.execute(
            update(WebhookRow).where(WebhookRow.client_id == "test-bank").values(active=False)
        )


async def _active_urls(state: HubState) -> list[str]:
    async with state.sessions() as session:
        found = await session.execute(
            select(WebhookRow.url).where(WebhookRow.client_id == "test-agency", WebhookRow.active.is_(True))
        )
        return list(found.scalars())


async def test_registration_refuses_each_hostile_url_with_a_problem_in_the_callers_language(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    before = await _active_urls(hub_state)
    for url, reason in HOSTILE.items():
        answer = await api.post(
            "/v1/webhooks",
            json={"url": url},
            headers={**bearer(hub_state, "test-agency"), "Accept-Language": "ko"},
        )
        body = assert_problem(answer, 422, "webhook-url-refused")
        assert body["reason"] == reason, url
        assert body["title"] == "허용되지 않는 웹훅 URL"
        assert url not in answer.text  # the problem never echoes what was sent
    assert await _active_urls(hub_state) == before  # nothing registered, nothing replaced


@dataclass(frozen=True)
class Sent:
    url: httpx.URL  # where the connection went, as it went (the transport restores the request's URL)
    headers: httpx.Headers
    sni_hostname: str | None


@dataclass
class Receiver:
    """Records what reaches the network: with a refused address, nothing may."""

    requests: list[Sent] = field(default_factory=list)

    def transport(self) -> httpx.AsyncBaseTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(Sent(request.url, request.headers, request.extensions.get("sni_hostname")))
            return httpx.Response(204)

        return httpx.MockTransport(answer)


async def _deliver_all(state: HubState, channel: WebhookChannel, consent_id: str) -> OutboxRow:
    dispatcher = Dispatcher(
        state.sessions, state.keys.data_key, channels={INBOX: InboxChannel(), WEBHOOK: channel}
    )
    for _ in range(100):
        await dispatcher.run_once()
        async with state.sessions() as session:
            rows = (await session.execute(select(OutboxRow).where(OutboxRow.channel == WEBHOOK))).scalars()
            mine = [r for r in rows if r.params.get("consent_id") == consent_id]
        if mine and mine[0].status in {DELIVERED, PERMANENT_FAILURE}:
            return mine[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the webhook message did not reach a final status")


async def test_a_name_that_resolves_privately_after_registration_is_refused_at_delivery_without_connecting(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    # Registered while the name does not resolve (accepted: it leads nowhere yet), then its DNS answer
    # becomes the metadata address.
    registered = await api.post(
        "/v1/webhooks", json={"url": "https://hooks.rebind.invalid/h"}, headers=bearer(hub_state)
    )
    assert registered.status_code == 201, registered.text
    consent_id = await granted(api, hub_state)

    async def now_private(host: str, port: int) -> list[str]:
        assert host == "hooks.rebind.invalid" and port == 443
        return ["169.254.169.254"]

    network = Receiver()
    guarded = ssrf.GuardedTransport(STRICT, resolver=now_private, make_transport=network.transport)
    row = await _deliver_all(
        hub_state, WebhookChannel(hub_state.keys.data_key, transport=guarded), consent_id
    )
    assert row.status == PERMANENT_FAILURE and row.attempts == 1
    assert row.last_error is not None and "link-local" in row.last_error
    assert not any(r.headers.get("webhook-id") == row.message_id for r in network.requests)


async def test_an_allowed_name_is_connected_at_its_checked_address_with_the_name_as_host(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    registered = await api.post(
        "/v1/webhooks", json={"url": "http://hooks.bank.invalid:8080/h"}, headers=bearer(hub_state)
    )
    assert registered.status_code == 201, registered.text
    consent_id = await granted(api, hub_state)

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    network = Receiver()
    guarded = ssrf.GuardedTransport(STRICT, resolver=public, make_transport=network.transport)
    row = await _deliver_all(
        hub_state, WebhookChannel(hub_state.keys.data_key, transport=guarded), consent_id
    )
    assert row.status == DELIVERED
    [sent] = [r for r in network.requests if r.headers["webhook-id"] == row.message_id]
    assert sent.url.host == "93.184.216.34" and sent.url.port == 8080 and sent.url.path == "/h"
    assert sent.headers["host"] == "hooks.bank.invalid:8080"
    assert sent.sni_hostname == "hooks.bank.invalid"


# --- a real TLS receiver on 127.0.0.1, reached by name --------------------------------------------------


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_over_tls_the_pinned_connection_presents_and_checks_the_name(tmp_path: Path) -> None:
    name = "hooks.bank.test"
    cert_file, key_file = _self_signed(name, tmp_path)
    server_names: list[str | None] = []
    hosts: list[str] = []
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server_tls.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        hosts.extend(
            line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:")
        )
        length = next(
            (
                int(line.split(":")[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    client_tls = ssl.create_default_context(cafile=str(cert_file))
    guarded = ssrf.GuardedTransport(
        DEV, resolver=to_loopback, make_transport=lambda: httpx.AsyncHTTPTransport(verify=client_tls)
    )
    try:
        async with httpx.AsyncClient(transport=guarded) as client:
            answer = await client.post(f"https://{name}:{port}/h", content=b"{}")
        assert answer.status_code == 204
        assert server_names == [name] and hosts == [f"{name}:{port}"]
        # The same address under a name the certificate does not carry fails the TLS check.
        async with httpx.AsyncClient(transport=guarded) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"https://other.bank.test:{port}/h", content=b"{}")
        # And with the development switch off, the loopback answer is refused before any connection.
        strict = ssrf.GuardedTransport(STRICT, resolver=to_loopback)
        async with httpx.AsyncClient(transport=strict) as client:
            with pytest.raises(ssrf.Refused):
                await client.post(f"https://{name}:{port}/h", content=b"{}")
        assert server_names == [name, "other.bank.test"]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_changed_dns_answer_is_refused_once_the_checked_one_expires() -> None:
    answers = {"now": ["93.184.216.34"]}
    asked: list[str] = []

    async def changing(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers["now"]

    moment = {"t": 0.0}
    network = Receiver()
    guarded = ssrf.GuardedTransport(
        STRICT,
        resolver=changing,
        make_transport=network.transport,
        cache_seconds=5,
        clock=lambda: moment["t"],
    )
    async with httpx.AsyncClient(transport=guarded) as client:
        assert (await client.post("https://hooks.bank.invalid/h")).status_code == 204
        answers["now"] = ["10.0.0.1"]  # rebinding to an inside address
        moment["t"] = 4.0  # still within the checked answer's life: the checked public address is used
        assert (await client.post("https://hooks.bank.invalid/h")).status_code == 204
        moment["t"] = 5.5
        with pytest.raises(ssrf.Refused):
            await client.post("https://hooks.bank.invalid/h")
    assert asked == ["hooks.bank.invalid", "hooks.bank.invalid"]
    assert [sent.url.host for sent in network.requests] == ["93.184.216.34", "93.184.216.34"]
