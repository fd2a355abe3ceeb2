"""The audited lookup end to end through the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio


async def test_abstract_basic_returns_exactly_the_view_fields(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    resident = backend.residents[0]
    response = await api.post(
        "/v1/lookups", json=lookup_body(resident["resident_number"]), headers=bearer(hub_state)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document_type"] == "resident_registration_abstract"
    assert body["holder"] == "mois"
    assert set(body["fields"]) == {
        "name",
        "resident_number_masked",
        "birth_date",
        "sex",
        "address",
        "postal_code",
        "moved_in_on",
    }
    assert body["fields"]["name"] == resident["name_ko"]
    assert body["fields"]["resident_number_masked"] == resident["resident_number"][:8] + "******"
    assert len(body["fields"]["birth_date"]) == 10  # ISO date on both databases
    event = next(r for r in audit_rows(backend) if r["event_id"] == body["audit"]["event_id"])
    assert event["outcome"] == "ok"
    assert event["basis"] == "statute:KR-FTRA-5-2"
    assert event["actor_id"] == "test-bank"
    assert event["purpose_code"] == "loan-screening"
    assert event["subject_commitment"] == hub_state.committer.commit(
        resident["resident_number"].replace("-", "")
    )


async def test_agency_sees_address_history_under_its_statute(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(
        backend.residents[1]["resident_number"], view="with_address_history", statute="KR-RRA-29-2-1"
    )
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
    assert response.status_code == 200, response.text
    history = response.json()["fields"]["address_history"]
    assert history, "every synthetic resident has at least their current address"
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    assert history[-1]["moved_out_on"] is None
    assert history[-1]["address"] == response.json()["fields"]["address"]


async def test_copy_basic_view_releases_only_member_names_and_relations(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(
        backend.residents[0]["resident_number"],
        document_type="resident_registration_copy",
        statute="KR-RRA-29-2-1",
    )
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
    assert response.status_code == 200, response.text
    fields = response.json()["fields"]
    assert fields["members"], "the subject is a member of their own household"
    assert all(set(m) == {"name", "relation_to_head"} for m in fields["members"])
    assert "household_formed_on" not in fields
    event = next(r for r in audit_rows(backend) if r["event_id"] == response.json()["audit"]["event_id"])
    assert event["fields"] == [
        "household_address",
        "postal_code",
        "head_name",
        "members.name",
        "members.relation_to_head",
    ]


async def test_copy_detailed_view_releases_whole_member_entries(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(
        backend.residents[2]["resident_number"],
        document_type="resident_registration_copy",
        view="detailed",
        statute="KR-RRA-29-2-1",
    )
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
    assert response.status_code == 200, response.text
    members = response.json()["fields"]["members"]
    assert all(m["resident_number_masked"].endswith("******") for m in members)
    assert sum(1 for m in members if m["relation_to_head"] == "본인") == 1


async def test_purpose_as_plain_code_is_accepted(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"])
    body["purpose"] = "kyc"
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    assert response.status_code == 200, response.text
