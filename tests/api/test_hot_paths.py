"""The hot paths (``hub.api.hot_paths``) say exactly what the FastAPI routes say.

``POST /v1/lookups`` and the public inclusion proof are answered below FastAPI's routing; these tests send
the same requests to an app with the hot paths and to one without them (the published routes answer there)
and compare status, the headers that matter, and body, for answers and for each kind of refusal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from audit.merkle import leaf_hash, verify_inclusion
from hub.api.hot_paths import HotPaths
from hub.app import create_app
from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio

# Values that differ from one request to the next by design, not by path.
_PER_REQUEST = {"lookup_id", "fetched_at", "audit", "audit_event_id", "instance"}


@asynccontextmanager
async def _client(backend: Backend, state: HubState, *, thin: bool) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(backend.settings, state=state)
    if not thin:  # before the first request builds the middleware stack
        app.user_middleware = [m for m in app.user_middleware if m.cls is not HotPaths]
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = {k: v for k, v in response.json().items() if k not in _PER_REQUEST}
    names = ("content-type", "content-language", "www-authenticate", "cache-control", "retry-after")
    headers = {name: response.headers[name] for name in names if name in response.headers}
    return response.status_code, headers, body


def _cases(backend: Backend, state: HubState) -> list[tuple[str, dict[str, str], bytes]]:
    resident = backend.residents[0]["resident_number"]

    def body(**changes: object) -> bytes:
        return json.dumps({**lookup_body(resident), **changes}).encode()

    token = {**bearer(state), "Content-Type": "application/json"}
    korean = {**token, "Accept-Language": "ko"}
    return [
        ("answer", token, body()),
        ("answer in English problems", {**token, "Accept-Language": "en"}, body()),
        ("no token", {"Content-Type": "application/json"}, body()),
        ("not a bearer token", {"Authorization": "Basic eDp5", "Content-Type": "application/json"}, body()),
        ("forged token", {"Authorization": "Bearer not.a.token"}, body()),
        ("malformed body", korean, b'{"document_type": '),
        ("unknown document", korean, body(document_type="no_such_document")),
        ("statute not granted", {**token, "Accept-Language": "en"}, body(basis={"statute": "KR-XX-1"})),
        ("bad resident number", korean, body(subject={"resident_number": "123456-1234567"})),
        ("unknown consent", token, body(basis={"consent_id": "00000000-0000-4000-8000-000000000000"})),
    ]


async def test_the_thin_path_answers_and_refuses_exactly_as_the_route_does(
    hub_state: HubState, backend: Backend
) -> None:
    seen: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
    for thin in (True, False):
        async with _client(backend, hub_state, thin=thin) as client:
            for name, headers, content in _cases(backend, hub_state):
                response = await client.post("/v1/lookups", content=content, headers=headers)
                seen.setdefault(name, []).append(_comparable(response))
    for name, (by_thin_path, by_route) in seen.items():
        assert by_thin_path == by_route, name
    statuses = {name: answers[0][0] for name, answers in seen.items()}
    assert statuses["answer"] == 200
    assert statuses["no token"] == statuses["forged token"] == 401
    assert statuses["malformed body"] == 422 and statuses["statute not granted"] == 403


async def test_the_thin_path_records_every_attempt_before_answering(
    hub_state: HubState, backend: Backend
) -> None:
    async with _client(backend, hub_state, thin=True) as client:
        body = lookup_body(backend.residents[1]["resident_number"])
        answered = await client.post("/v1/lookups", json=body, headers=bearer(hub_state))
        refused = await client.post("/v1/lookups", content=b"{", headers=bearer(hub_state))
    assert answered.status_code == 200 and refused.status_code == 422
    events = {row["event_id"]: row for row in audit_rows(backend)}
    assert events[answered.json()["audit"]["event_id"]]["outcome"] == "ok"
    assert events[refused.json()["audit_event_id"]]["reason"] == "malformed_request"
    assert answered.headers["x-request-id"] == events[answered.json()["audit"]["event_id"]]["request_id"]


async def test_other_methods_and_paths_pass_through_to_the_router(
    hub_state: HubState, backend: Backend
) -> None:
    async with _client(backend, hub_state, thin=True) as client:
        wrong_method = await client.get("/v1/lookups", headers=bearer(hub_state))
        trailing = await client.post("/v1/lookups/bundle", content=b"{", headers=bearer(hub_state))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "/problems/method-not-allowed"
    assert trailing.status_code == 422  # the bundle endpoint's own validation, not the single lookup's


async def _published_size(client: httpx.AsyncClient, hub_state: HubState) -> int:
    """Some lookups, integrated and signed, so that there are leaves to prove."""
    for _ in range(3):
        await client.post("/v1/lookups", json=lookup_body("900101-1234568"), headers=bearer(hub_state))
    await hub_state.integrator.integrate_once()
    latest = await hub_state.audit_reader.latest_checkpoint()
    assert latest is not None and latest.tree_size >= 3
    return latest.tree_size


async def test_the_inclusion_proof_is_answered_exactly_as_the_route_answers_it(
    hub_state: HubState, backend: Backend
) -> None:
    async with _client(backend, hub_state, thin=True) as client:
        size = await _published_size(client, hub_state)
    queries = [
        f"leaf_index={size - 1}",
        f"leaf_index=0&tree_size={size}",
        f"tree_size={size}&leaf_index=1",
        f"leaf_index={size}",  # past the tree: 400 bad-range
        "leaf_index=-1",  # the route's own answer, by way of the router
        "leaf_index=abc",  # 422 from FastAPI's validation
        "leaf_index=1&leaf_index=2",
        "leaf_index=01",
        "leaf_index=1&extra=2",
        "",
    ]
    seen: dict[str, list[tuple[int, str, str]]] = {}
    for thin in (True, False):
        async with _client(backend, hub_state, thin=thin) as client:
            for query in queries:
                response = await client.get(f"/v1/audit/proof/inclusion?{query}")
                kept = response.json()
                kept.pop("instance", None)
                answer = (response.status_code, response.headers["content-type"], repr(sorted(kept.items())))
                seen.setdefault(query, []).append(answer)
    for query, (by_hot_path, by_route) in seen.items():
        assert by_hot_path == by_route, query
    assert seen[f"leaf_index={size - 1}"][0][0] == 200
    assert seen[f"leaf_index={size}"][0][0] == 400
    assert seen["leaf_index=abc"][0][0] == 422


async def test_the_hot_proof_verifies_against_the_signed_checkpoint(
    hub_state: HubState, backend: Backend
) -> None:
    async with _client(backend, hub_state, thin=True) as client:
        size = await _published_size(client, hub_state)
        proof = (await client.get(f"/v1/audit/proof/inclusion?leaf_index={size - 2}")).json()
    latest = await hub_state.audit_reader.latest_checkpoint()
    assert latest is not None
    leaf = await hub_state.audit_reader.leaf(size - 2)
    assert leaf is not None
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(leaf_hash(leaf.leaf_bytes), size - 2, proof["tree_size"], hashes, latest.root_hash)


async def test_a_residents_history_is_answered_exactly_as_the_route_answers_it(
    hub_state: HubState, backend: Backend
) -> None:
    resident, auditor = account_bearer(hub_state, "resident0"), account_bearer(hub_state, "auditor")
    async with _client(backend, hub_state, thin=True) as client:
        await _published_size(client, hub_state)
        first = (await client.get("/v1/me/access-log?limit=1", headers=resident)).json()
    cursor = first["next_cursor"]
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("newest", "", resident),
        ("two", "limit=2", resident),
        ("next page", f"limit=2&cursor={cursor}" if cursor else "limit=3", resident),
        ("bad cursor", "cursor=not-a-cursor", resident),  # 400 invalid-cursor from the route's own code
        ("zero", "limit=0", resident),  # 422: FastAPI's validation, by way of the router
        ("too many", "limit=101", resident),
        ("twice", "limit=2&limit=3", resident),
        ("filtered", "outcome=ok", resident),  # a filter: the router's
        ("no token", "", {}),  # 401
        ("an auditor", "", auditor),  # 403 role-required
    ]
    seen: dict[str, list[tuple[int, str, Any]]] = {}
    for thin in (True, False):
        async with _client(backend, hub_state, thin=thin) as client:
            for name, query, headers in cases:
                response = await client.get(f"/v1/me/access-log?{query}", headers=headers)
                body = response.json()
                body.pop("instance", None)
                answer = (response.status_code, response.headers["content-type"], body)
                seen.setdefault(name, []).append(answer)
    for name, (by_hot_path, by_route) in seen.items():
        assert by_hot_path == by_route, name
    statuses = {name: answers[0][0] for name, answers in seen.items()}
    assert [statuses[n] for n in ("newest", "two", "next page", "bad cursor")] == [200, 200, 200, 400]
    assert (statuses["zero"], statuses["no token"], statuses["an auditor"]) == (422, 401, 403)
    assert seen["newest"][0][2]["entries"], "resident0 has history to compare"
