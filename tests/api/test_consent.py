"""Consents end to end through the API: bank flow, lifecycle, refusals, mandates, receipts, concurrency."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import create_engine, text

from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows, bearer
from tests.helpers.consent_flow import ABSTRACT, CALLBACK, consent_lookup, create_request, granted

pytestmark = pytest.mark.anyio


async def test_bank_flow_request_preview_approve_redirect_lookup(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    request = await create_request(api, hub_state)
    assert request["status"] == "pending" and request["approve_url"].endswith(request["request_id"])
    resident = account_bearer(hub_state, "resident0")
    shown = await api.get(
        f"/v1/me/consent-requests/{request['request_id']}", params={"preview": "true"}, headers=resident
    )
    assert shown.status_code == 200, shown.text
    page = shown.json()
    assert page["recipient_org"] == "Test Bank"
    assert {f["name"] for f in page["documents"][0]["fields"]} >= {"name", "address"}
    assert page["preview"][0]["name"] == backend.residents[0]["name_ko"], (
        "the resident sees the actual values"
    )

    decision = (
        await api.post(f"/v1/me/consent-requests/{request['request_id']}/approve", json={}, headers=resident)
    ).json()
    target = urlparse(decision["redirect_to"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CALLBACK
    query = parse_qs(target.query)
    assert query["state"] == ["xyz-123"]
    consent_id = query["consent_id"][0]

    lookup = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["fields"]["name"] == backend.residents[0]["name_ko"]
    event = next(r for r in audit_rows(backend) if r["event_id"] == lookup.json()["audit"]["event_id"])
    assert event["basis"] == f"consent:{consent_id}"
    assert event["subject_commitment"] == hub_state.committer.commit(
        backend.residents[0]["resident_number"].replace("-", "")
    )

    again = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert again.status_code == 403 and again.json()["type"] == "/problems/consent-exhausted"
    listed = (await api.get("/v1/consents", headers=bearer(hub_state))).json()["consents"]
    mine = next(c for c in listed if c["consent_id"] == consent_id)
    assert (mine["uses"], mine["state"]) == (1, "exhausted") and mine["last_used_at"]


async def test_unregistered_redirect_uri_is_refused(api: httpx.AsyncClient, hub_state: HubState) -> None:
    body = {"documents": [ABSTRACT], "purpose": {"code": "kyc"}, "redirect_uri": "https://evil.test/cb"}
    response = await api.post("/v1/consent-requests", json=body, headers=bearer(hub_state))
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/redirect-uri-not-registered"


async def test_denial_redirects_with_access_denied_and_closes_the_request(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    request = await create_request(api, hub_state)
    resident = account_bearer(hub_state, "resident0")
    denied = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/deny", json={}, headers=resident
    )
    assert parse_qs(urlparse(denied.json()["redirect_to"]).query) == {
        "error": ["access_denied"],
        "state": ["xyz-123"],
    }
    again = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve", json={}, headers=resident
    )
    assert again.status_code == 409 and again.json()["type"] == "/problems/consent-request-closed"


async def test_pause_resume_revoke_take_effect_for_the_next_lookup(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=10)
    resident = account_bearer(hub_state, "resident0")

    async def lookup() -> httpx.Response:
        return await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))

    assert (await lookup()).status_code == 200
    assert (await api.post(f"/v1/me/consents/{consent_id}/pause", headers=resident)).status_code == 200
    paused = await lookup()
    assert paused.status_code == 403 and paused.json()["type"] == "/problems/consent-paused"
    assert (await api.post(f"/v1/me/consents/{consent_id}/resume", headers=resident)).status_code == 200
    assert (await lookup()).status_code == 200
    revoked = await api.post(f"/v1/me/consents/{consent_id}/revoke", headers=resident)
    assert revoked.status_code == 200 and revoked.json()["receipt"]
    refused = await lookup()
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/consent-revoked"
    row = next(r for r in audit_rows(backend) if r["event_id"] == refused.json()["audit_event_id"])
    assert (row["outcome"], row["reason"]) == ("denied", "consent_revoked")
    resume = await api.post(f"/v1/me/consents/{consent_id}/resume", headers=resident)
    assert resume.status_code == 409 and resume.json()["type"] == "/problems/consent-transition"
    mine = (await api.get("/v1/me/consents", headers=resident)).json()["consents"]
    assert next(c for c in mine if c["consent_id"] == consent_id)["uses"] == 2


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"view": "with_address_history"}, "consent-scope"),
        ({"purpose": "marketing"}, "consent-scope"),
        ({"document_type": "resident_registration_copy"}, "consent-scope"),
    ],
)
async def test_lookups_outside_the_consent_are_refused(
    api: httpx.AsyncClient, hub_state: HubState, change: dict[str, str], problem: str
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    response = await api.post(
        "/v1/lookups", json=consent_lookup(consent_id, **change), headers=bearer(hub_state)
    )
    assert response.status_code == 403 and response.json()["type"] == f"/problems/{problem}"


async def test_another_subject_or_recipient_cannot_use_the_consent(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    other = consent_lookup(consent_id, subject={"resident_number": backend.residents[1]["resident_number"]})
    response = await api.post("/v1/lookups", json=other, headers=bearer(hub_state))
    assert response.status_code == 403 and response.json()["type"] == "/problems/consent-scope"
    stranger = await api.post(
        "/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state, "test-agency")
    )
    assert stranger.status_code == 404 and stranger.json()["type"] == "/problems/consent-not-found"
    missing = consent_lookup("00000000-0000-0000-0000-000000000000")
    assert (await api.post("/v1/lookups", json=missing, headers=bearer(hub_state))).status_code == 404


async def test_an_expired_consent_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    consent_id = await granted(api, hub_state, mode="standing", max_uses=5)
    engine = create_engine(backend.sync_hub_url())
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE consents SET expires_at = :t WHERE consent_id = :c"),
            {"t": datetime.now(UTC) - timedelta(minutes=1), "c": consent_id},
        )
    engine.dispose()
    response = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert response.status_code == 403 and response.json()["type"] == "/problems/consent-expired"


async def test_concurrent_lookups_on_a_one_time_consent_succeed_exactly_once(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state)
    responses = await asyncio.gather(
        *(
            api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [403] * 7, statuses
    assert {r.json()["type"] for r in responses if r.status_code == 403} == {"/problems/consent-exhausted"}


async def test_receipt_verifies_with_only_the_published_jwks_and_a_jose_library(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    consent_id = await granted(api, hub_state)
    resident = account_bearer(hub_state, "resident0")
    [receipt] = (await api.get(f"/v1/me/consents/{consent_id}/receipts", headers=resident)).json()["receipts"]
    jwks = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    kid = jwt.get_unverified_header(receipt["jws"])["kid"]
    key = OKPAlgorithm.from_jwk(json.dumps(next(k for k in jwks if k["kid"] == kid)))
    claims = json.loads(jwt.api_jws.PyJWS().decode(receipt["jws"], key, algorithms=["EdDSA"]))  # type: ignore[arg-type]
    assert claims["consent_id"] == consent_id and claims["event"] == "approved"
    assert claims["recipient"]["id"] == "test-bank"
    header, payload, signature = receipt["jws"].split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["max_uses"] = 1000
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.PyJWS().decode(f"{header}.{forged_payload}.{signature}", key, algorithms=["EdDSA"])  # type: ignore[arg-type]


async def test_an_agent_approves_under_a_mandate_until_it_is_revoked(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    principal, agent = account_bearer(hub_state, "resident0"), account_bearer(hub_state, "resident1")
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    mandate = await api.post(
        "/v1/me/mandates",
        headers=principal,
        json={
            "agent_username": "resident1",
            "document_types": ["resident_registration_abstract"],
            "expires_at": expires,
        },
    )
    assert mandate.status_code == 201, mandate.text
    mandate_id = mandate.json()["mandate_id"]
    held = (await api.get("/v1/me/mandates", headers=agent)).json()["mandates"]
    assert any(m["mandate_id"] == mandate_id and m["state"] == "active" for m in held)

    request = await create_request(api, hub_state)
    approved = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve",
        json={"mandate_id": mandate_id},
        headers=agent,
    )
    assert approved.status_code == 200, approved.text
    consent_id = approved.json()["consent"]["consent_id"]
    lookup = await api.post("/v1/lookups", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert lookup.json()["fields"]["name"] == backend.residents[0]["name_ko"], "the principal's record"
    decisions = [
        r
        for r in audit_rows(backend)
        if r["kind"] == "consent_approve" and r["basis"] == f"mandate:{mandate_id}"
    ]
    assert decisions, "the approval is audited citing the mandate"
    agent_id = decisions[-1]["actor_id"]
    assert (
        decisions[-1]["subject_commitment"]
        == hub_state.committer.commit(backend.residents[0]["resident_number"].replace("-", ""))
        and agent_id != ""
    )

    assert (await api.post(f"/v1/me/mandates/{mandate_id}/revoke", headers=principal)).status_code == 200
    request = await create_request(api, hub_state)
    refused = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve",
        json={"mandate_id": mandate_id},
        headers=agent,
    )
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/mandate-invalid"


async def test_a_mandate_does_not_reach_other_document_types(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    principal, agent = account_bearer(hub_state, "resident0"), account_bearer(hub_state, "resident1")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    mandate_id = (
        await api.post(
            "/v1/me/mandates",
            headers=principal,
            json={
                "agent_username": "resident1",
                "document_types": ["resident_registration_copy"],
                "expires_at": expires,
            },
        )
    ).json()["mandate_id"]
    request = await create_request(api, hub_state)
    refused = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve",
        json={"mandate_id": mandate_id},
        headers=agent,
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "mandate_scope"


async def test_gongyu_consent_verify_receipt_accepts_a_real_one_and_rejects_a_tampered_one(
    api: httpx.AsyncClient, hub_state: HubState, tmp_path: Any
) -> None:
    import subprocess
    import sys

    consent_id = await granted(api, hub_state)
    resident = account_bearer(hub_state, "resident0")
    [receipt] = (await api.get(f"/v1/me/consents/{consent_id}/receipts", headers=resident)).json()["receipts"]
    (tmp_path / "keys.json").write_text((await api.get("/.well-known/gongyu/keys")).text)
    (tmp_path / "receipt.jws").write_text(receipt["jws"])
    header, payload, signature = receipt["jws"].split(".")
    (tmp_path / "forged.jws").write_text(f"{header}.{payload[:-4]}AAAA.{signature}")

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "consent",
                "verify-receipt",
                str(tmp_path / name),
                "--jwks",
                str(tmp_path / "keys.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = verify("receipt.jws")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["consent_id"] == consent_id
    assert verify("forged.jws").returncode == 1
