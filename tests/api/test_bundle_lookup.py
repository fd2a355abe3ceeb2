"""A life-event bundle under one consent: documents fetched concurrently, each with its own audit event."""

from __future__ import annotations

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows, bearer

pytestmark = pytest.mark.anyio


async def test_one_consent_covers_a_bundle_and_each_document_is_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    created = await api.post(
        "/v1/consent-requests",
        headers=bearer(hub_state),
        json={
            "bundle": "loan_application",
            "purpose": {"code": "loan-screening"},
            "redirect_uri": "https://bank.test/callback",
        },
    )
    assert created.status_code == 201, created.text
    documents = created.json()["documents"]
    assert len(documents) >= 5
    decision = await api.post(
        f"/v1/me/consent-requests/{created.json()['request_id']}/approve",
        json={},
        headers=account_bearer(hub_state, "resident0"),
    )
    consent_id = decision.json()["consent"]["consent_id"]

    response = await api.post(
        "/v1/lookups/bundle",
        headers=bearer(hub_state),
        json={"bundle": "loan_application", "purpose": "loan-screening", "basis": {"consent_id": consent_id}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["document_type"] for r in body["results"]] == [d["document_type"] for d in documents]
    required = [r for r in body["results"] if not r["optional"]]
    assert all(r["outcome"] == "ok" for r in required), [
        (r["document_type"], r.get("problem")) for r in required
    ]
    abstract = next(r for r in body["results"] if r["document_type"] == "resident_registration_abstract")
    assert abstract["fields"]["name"] == backend.residents[0]["name_ko"]
    events = {r["event_id"]: r for r in audit_rows(backend)}
    ids = [r["audit"]["event_id"] for r in body["results"]]
    assert len(set(ids)) == len(ids) and all(i in events for i in ids)
    assert {events[i]["basis"] for i in ids} == {f"consent:{consent_id}"}


async def test_a_statutory_bundle_lookup_reports_each_refusal_separately(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    response = await api.post(
        "/v1/lookups/bundle",
        headers=bearer(hub_state),
        json={
            "bundle": "loan_application",
            "purpose": "loan-screening",
            "subject": {"resident_number": backend.residents[0]["resident_number"]},
            "basis": {"statute": "KR-FTRA-5-2"},
        },
    )
    assert response.status_code == 200
    outcomes = {r["document_type"]: r["outcome"] for r in response.json()["results"]}
    assert outcomes["resident_registration_abstract"] == "ok"
    assert outcomes["national_tax_payment_certificate"] == "denied"
    assert response.json()["complete"] is False
    unknown = await api.post(
        "/v1/lookups/bundle",
        headers=bearer(hub_state),
        json={"bundle": "nope", "purpose": "x", "basis": {"statute": "KR-FTRA-5-2"}},
    )
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/unknown-bundle"
