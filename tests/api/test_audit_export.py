"""Auditor export: streamed body, signed manifest that matches it, and the export itself audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import httpx
import jwt
import pytest
from jwt.algorithms import OKPAlgorithm

from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio


async def _prepare(api: httpx.AsyncClient, state: HubState, backend: Backend) -> None:
    for resident in backend.residents[:3]:
        response = await api.post(
            "/v1/lookups", json=lookup_body(resident["resident_number"]), headers=bearer(state)
        )
        assert response.status_code == 200
    await state.integrator.integrate_once()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_body_matches_its_signed_manifest(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, fmt: str
) -> None:
    await _prepare(api, hub_state, backend)
    auditor = account_bearer(hub_state, "auditor")
    params = {"format": fmt, "document_type": "resident_registration_abstract"}
    body = await api.get("/v1/audit/export", params=params, headers=auditor)
    assert body.status_code == 200, body.text
    size = int(body.headers["x-gongyu-tree-size"])
    signed = (
        await api.get("/v1/audit/export/manifest", params={**params, "tree_size": size}, headers=auditor)
    ).json()
    manifest = signed["manifest"]
    assert manifest["sha256"] == hashlib.sha256(body.content).hexdigest()
    assert manifest["size_bytes"] == len(body.content)
    assert manifest["tree_size"] == size
    if fmt == "jsonl":
        records = [json.loads(line) for line in body.text.splitlines()]
        assert all(r["document_type"] == "resident_registration_abstract" for r in records)
        assert [r["leaf_index"] for r in records] == sorted(r["leaf_index"] for r in records)
    else:
        records = list(csv.DictReader(io.StringIO(body.text)))
    assert manifest["rows"] == len(records) >= 3
    # The JWS verifies against the hub key published in the JWKS, and covers exactly the manifest.
    jwks = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    header = jwt.get_unverified_header(signed["jws"])
    key = OKPAlgorithm.from_jwk(json.dumps(next(k for k in jwks if k["kid"] == header["kid"])))
    payload = jwt.api_jws.PyJWS().decode(signed["jws"], key, algorithms=["EdDSA"])  # type: ignore[arg-type]
    assert json.loads(payload) == manifest
    checkpoint = await hub_state.audit_reader.latest_checkpoint()
    assert checkpoint is not None
    if checkpoint.tree_size == size:
        import base64

        assert manifest["root_hash"] == base64.b64encode(checkpoint.root_hash).decode()


async def test_each_export_is_itself_an_audit_event(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _prepare(api, hub_state, backend)
    response = await api.get(
        "/v1/audit/export", params={"kind": "lookup"}, headers=account_bearer(hub_state, "auditor")
    )
    assert response.status_code == 200
    exports = [r for r in audit_rows(backend) if r["kind"] == "export"]
    assert exports and exports[-1]["actor_kind"] == "auditor"
    assert json.loads(str(exports[-1]["purpose_text"]))["kind"] == "lookup"


async def test_only_auditors_may_export(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _prepare(api, hub_state, backend)
    assert (await api.get("/v1/audit/export")).status_code == 401
    assert (await api.get("/v1/audit/export", headers=bearer(hub_state))).status_code == 401
    for who in ("resident0", "official"):
        response = await api.get("/v1/audit/export", headers=account_bearer(hub_state, who))
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/role-required"


async def test_export_beyond_the_published_log_is_a_bad_range(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _prepare(api, hub_state, backend)
    response = await api.get(
        "/v1/audit/export", params={"tree_size": 10**9}, headers=account_bearer(hub_state, "auditor")
    )
    assert response.status_code == 400
