"""Hostile agency data ends in a clean problem+json and an audit event: never a hang, a crash or a leak.

The hostile sandbox agency (adapters/sandbox/hostile.py) answers each mode with one misbehaviour; a document
type per mode is declared in a temporary spec directory and looked up through the hub. Unreadable answers
are ``bad_response`` (502 agency-bad-response once the broker maps that reason, 503 before), silence is
``timeout`` (503). Two cases also run over a real socket, where the body really arrives in pieces.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager

from adapters.base import AgencyError
from adapters.registry import AdapterRegistry
from adapters.resilience import ResiliencePolicy
from adapters.rest import RestAdapter
from adapters.sandbox import hostile
from adapters.soap import SoapAdapter
from document_specs.loader import PACKAGE_DIR, load_catalog
from hub.app import create_app
from hub.state import SANDBOX_XSD_DIR, HubState, build_adapters, build_state, sandbox_transport
from tests.conftest import Backend, audit_rows, bearer, lookup_body
from tests.servers import free_port

pytestmark = pytest.mark.anyio

TIMEOUT = 0.6
# The broker maps reason "bad_response" to 502 agency-bad-response once the lead applies that change.
BAD = (502, "agency-bad-response")
DOWN = (503, "agency-unavailable")

SOAP_CASES = {
    "xxe": (BAD, "bad_response"),
    "billion_laughs": (BAD, "bad_response"),
    "utf16_doctype": (BAD, "bad_response"),
    "oversized": (BAD, "bad_response"),
    "oversized_stream": (BAD, "bad_response"),
    "invalid_xml": (BAD, "bad_response"),
    "schema_invalid": (BAD, "bad_response"),
    "wrong_content_type": (BAD, "bad_response"),
    "slow_drip": (DOWN, "timeout"),
    "hang": (DOWN, "timeout"),
    "server_fault": (DOWN, "unavailable"),
}
REST_CASES = {
    "wrong_content_type": (BAD, "bad_response"),
    "invalid_json": (BAD, "bad_response"),
    "deep_json": (BAD, "bad_response"),
    "not_an_object": (BAD, "bad_response"),
    "oversized": (BAD, "bad_response"),
    "oversized_stream": (BAD, "bad_response"),
    "slow_drip": (DOWN, "timeout"),
    "hang": (DOWN, "timeout"),
    "server_error": (DOWN, "unavailable"),
}

_SPEC = """
type = "{type}"
holder = "{adapter}"
adapter = "{adapter}"
subject_kind = "person"
titles = {{ ko = "적대적 기관 {mode}", en = "Hostile agency {mode}" }}
holder_titles = {{ ko = "적대적 기관", en = "Hostile agency" }}
{query}
[[fields]]
name = "name"
type = "string"
titles = {{ ko = "성명", en = "Name" }}

[[views]]
name = "basic"
titles = {{ ko = "기본", en = "Basic" }}
fields = ["name"]

[[legal_bases]]
code = "KR-EGA-36-2"
titles = {{ ko = "전자정부법 제36조제2항", en = "Electronic Government Act, Art. 36(2)" }}
client_kinds = ["agency"]
views = ["basic"]
"""
_SOAP_QUERY = """
[query]
endpoint = "/soap/{mode}"
namespace = "urn:kr:scourt:family-registry:v1"
operation = "GetFamilyRelationsCertificate"
response = "fr:FamilyRelationsCertificate"
namespaces = {{ fr = "urn:kr:scourt:family-registry:v1" }}
record = {{ name = "fr:Principal/fr:Name" }}
"""
_REST_QUERY = """
[query]
path = "/rest/{mode}"
record = "/record"
"""


def _write_specs(directory: Path) -> None:
    for adapter, cases, query in (
        ("hostile_soap", SOAP_CASES, _SOAP_QUERY),
        ("hostile_rest", REST_CASES, _REST_QUERY),
    ):
        for mode in cases:
            kind = adapter.removeprefix("hostile_")
            text = _SPEC.format(
                type=f"hostile_{kind}_{mode}", adapter=adapter, mode=mode, query=query.format(mode=mode)
            )
            (directory / f"hostile_{kind}_{mode}.toml").write_text(text, encoding="utf-8")


def _policy() -> ResiliencePolicy:
    return ResiliencePolicy(timeout=TIMEOUT, retries=1, backoff=0.01, failure_threshold=100)


def _hostile_adapters(base_url: str, transport: httpx.AsyncBaseTransport | None) -> list[Any]:
    return [
        SoapAdapter(
            "hostile_soap", base_url, xsd=SANDBOX_XSD_DIR / "court.xsd", policy=_policy(), transport=transport
        ),
        RestAdapter("hostile_rest", base_url, policy=_policy(), transport=transport),
    ]


@pytest.fixture
async def hostile_hub(backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, HubState]]:
    _write_specs(tmp_path)
    settings = backend.settings
    adapters: AdapterRegistry = build_adapters(settings)
    transport = sandbox_transport(settings, include_hostile=True)
    for adapter in _hostile_adapters("http://sandbox.test/sandbox/hostile", transport):
        adapters.add(adapter)
    state = build_state(settings, catalog=load_catalog(PACKAGE_DIR, tmp_path), adapters=adapters)
    app = create_app(settings, state=state)
    try:
        async with LifespanManager(app) as manager:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://hub.test"
            ) as client:
                yield client, state
    finally:
        await state.close()


async def _check(
    client: httpx.AsyncClient,
    state: HubState,
    backend: Backend,
    document_type: str,
    expected: tuple[int, str],
    reason: str,
) -> None:
    number = backend.residents[0]["resident_number"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.post(
        "/v1/lookups",
        json=lookup_body(number, document_type, "basic", "KR-EGA-36-2"),
        headers={**bearer(state, "test-agency"), "Accept-Language": "en"},
    )
    elapsed = loop.time() - started
    assert elapsed < TIMEOUT + 0.5, f"answered in {elapsed:.2f}s, past the agency's deadline"
    status, slug = expected
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == f"/problems/{slug}"
    assert set(problem) <= {"type", "title", "status", "detail", "instance", "audit_event_id"}
    for leak in (hostile.LEAK_MARKER, "passwd", "root:", "lol", "Traceback", "SQLException", "lxml", "xsd"):
        assert leak not in response.text
    row = next(r for r in audit_rows(backend) if r["event_id"] == problem["audit_event_id"])
    assert (row["outcome"], row["reason"], row["fields"]) == ("agency_error", reason, [])


@pytest.mark.parametrize("mode", sorted(SOAP_CASES))
async def test_hostile_soap_agency(
    hostile_hub: tuple[httpx.AsyncClient, HubState], backend: Backend, mode: str
) -> None:
    client, state = hostile_hub
    expected, reason = SOAP_CASES[mode]
    await _check(client, state, backend, f"hostile_soap_{mode}", expected, reason)


@pytest.mark.parametrize("mode", sorted(REST_CASES))
async def test_hostile_rest_agency(
    hostile_hub: tuple[httpx.AsyncClient, HubState], backend: Backend, mode: str
) -> None:
    client, state = hostile_hub
    expected, reason = REST_CASES[mode]
    await _check(client, state, backend, f"hostile_rest_{mode}", expected, reason)


async def test_the_hostile_agency_answers_a_valid_document_correctly(
    hostile_hub: tuple[httpx.AsyncClient, HubState],
) -> None:
    """Control: the same adapters read the agency fine when it behaves, so the refusals above are real."""
    _, state = hostile_hub
    adapter = state.adapters["hostile_soap"]
    record = await adapter.fetch(
        {**state.catalog["hostile_soap_hang"].query, "endpoint": "/soap/ok"}, "8001019000001", ["name"]
    )
    assert record == {"name": "홍길동"}
    rest = state.adapters["hostile_rest"]
    assert await rest.fetch({"path": "/rest/ok", "record": "/record"}, "8001019000001", ["name"]) == {
        "name": "홍길동"
    }


# --- Over a real socket: the body arrives in pieces, so only streaming limits and the deadline help --------


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(hostile.create_app(), host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "hostile server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("kind", "mode", "reason"),
    [
        ("rest", "slow_drip", "timeout"),
        ("soap", "slow_drip", "timeout"),
        ("rest", "oversized_stream", "bad_response"),
        ("soap", "oversized_stream", "bad_response"),
        ("soap", "xxe", "bad_response"),
    ],
)
async def test_hostile_agency_over_a_real_socket(
    hostile_server: str, kind: str, mode: str, reason: str
) -> None:
    soap, rest = _hostile_adapters(hostile_server, None)
    adapter = soap if kind == "soap" else rest
    query: dict[str, Any] = (
        {
            "endpoint": f"/soap/{mode}",
            "namespace": "urn:kr:scourt:family-registry:v1",
            "operation": "GetFamilyRelationsCertificate",
            "response": "fr:FamilyRelationsCertificate",
            "namespaces": {"fr": "urn:kr:scourt:family-registry:v1"},
            "record": {"name": "fr:Principal/fr:Name"},
        }
        if kind == "soap"
        else {"path": f"/rest/{mode}", "record": "/record"}
    )
    adapter.validate_query(query)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(AgencyError) as raised:
            await adapter.fetch(query, "8001019000001", ["name"])
    finally:
        await soap.close()
        await rest.close()
    assert raised.value.reason == reason
    assert loop.time() - started < TIMEOUT + 0.3


async def test_unreachable_http_agency_is_unavailable_after_bounded_retries() -> None:
    port = free_port()  # nothing listens there
    rest = RestAdapter("gone", f"http://127.0.0.1:{port}", policy=_policy())
    try:
        with pytest.raises(AgencyError) as raised:
            await rest.fetch({"path": "/x"}, "8001019000001", [])
        assert raised.value.reason == "unavailable" and raised.value.retryable
        with pytest.raises(AgencyError):
            await rest.check()
    finally:
        await rest.close()
