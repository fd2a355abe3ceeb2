"""Filing an application through the API: pre-fill reads only what was consented to, each read audited."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from hub.state import HubState
from tests.applications.support import PERSONAL, TYPED
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


def _since(backend: Backend, seq: int) -> list[dict[str, object]]:
    return [r for r in audit_rows(backend) if int(str(r["seq"])) > seq]


def _last_seq(backend: Backend) -> int:
    rows = audit_rows(backend)
    return int(str(rows[-1]["seq"])) if rows else 0


async def test_prefill_reads_only_the_consented_document_and_audits_consent_and_read(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    start = _last_seq(backend)
    response = await api.post(
        "/v1/me/applications",
        json={
            "form_type": "basic_pension",
            "answers": TYPED["basic_pension"],
            "consent_to_prefill": ["resident_registration_abstract"],
        },
        headers=account_bearer(hub_state, "resident0"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received"
    # Only the abstract's four fields; the marriage and income certificates were not consented to.
    assert body["prefilled"] == ["address", "applicant_name", "birth_date", "postal_code"]

    events = _since(backend, start)
    kinds = [e["kind"] for e in events]
    assert kinds == ["application_prefill_consent", "application_prefill", "case_received"]
    read = events[1]
    assert read["document_type"] == "resident_registration_abstract"
    assert read["outcome"] == "ok" and read["basis"] == "self"
    assert read["purpose_code"] == "application:basic_pension"
    commitment = events[0]["subject_commitment"]
    assert commitment and all(e["subject_commitment"] == commitment for e in events)
    assert not any(
        e["document_type"] in ("marriage_relations_certificate", "income_amount_certificate") for e in events
    )

    mine = await api.get(
        f"/v1/me/applications/{body['application_id']}", headers=account_bearer(hub_state, "resident0")
    )
    case = mine.json()
    assert case["answers"]["applicant_name"] == backend.residents[0]["name_ko"]
    assert "spouse_name" not in case["answers"] and "annual_income" not in case["answers"]
    assert case["prefilled"]["applicant_name"] == "resident_registration_abstract/basic/name"
    assert [h["to"] for h in case["history"]] == ["received"]
    assert case["history"][0]["audit_event_id"] == events[2]["event_id"]


async def test_consenting_to_the_whole_form_reads_each_of_its_documents_once(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    start = _last_seq(backend)
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "basic_pension", "answers": TYPED["basic_pension"], "consent_to_prefill": True},
        headers=account_bearer(hub_state, "resident1"),
    )
    assert response.status_code == 201, response.text
    reads = [e for e in _since(backend, start) if e["kind"] == "application_prefill"]
    assert sorted(str(e["document_type"]) for e in reads) == [
        "income_amount_certificate",
        "marriage_relations_certificate",
        "resident_registration_abstract",
    ]


async def test_without_consent_nothing_is_read_and_typed_answers_are_kept(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    start = _last_seq(backend)
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "basic_pension", "answers": {**TYPED["basic_pension"], **PERSONAL}},
        headers=account_bearer(hub_state, "resident0"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["prefilled"] == []
    assert [e["kind"] for e in _since(backend, start)] == ["case_received"]


async def test_a_bad_answer_is_refused_before_any_record_is_read(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    start = _last_seq(backend)
    response = await api.post(
        "/v1/me/applications",
        json={
            "form_type": "basic_pension",
            "answers": {**TYPED["basic_pension"], "marital_status": "complicated", "phone": "12"},
            "consent_to_prefill": True,
        },
        headers=account_bearer(hub_state, "resident0"),
    )
    body = assert_problem(response, 422, "validation-error")
    assert {(f["field"], f["code"]) for f in body["fields"]} == {
        ("marital_status", "choice"),
        ("phone", "pattern"),
    }
    assert _since(backend, start) == []


async def test_missing_required_answers_are_named(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "moving_in_report", "answers": {"phone": "010-1234-5678"}},
        headers=account_bearer(hub_state, "resident0"),
    )
    body = assert_problem(response, 422, "validation-error")
    assert ("new_address", "required") in {(f["field"], f["code"]) for f in body["fields"]}


async def test_a_childs_resident_number_is_stored_sealed_and_shown_masked(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    number = "2401153234567"  # shape only: 2024-01-15, a boy born after 2000
    answers = {
        **{k: v for k, v in PERSONAL.items() if k != "postal_code"},
        "child_name": "홍아기",
        "child_birth_date": "2024-01-15",
        "child_resident_number": "240115-3234567",
        "birth_order": 1,
        "bank_name": "국민은행",
        "account_number": "123-45-678901",
        "account_holder": "홍길동",
        "phone": "01012345678",
    }
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "childbirth_support", "answers": answers},
        headers=account_bearer(hub_state, "resident2"),
    )
    assert response.status_code == 201, response.text
    case = (
        await api.get(
            f"/v1/me/applications/{response.json()['application_id']}",
            headers=account_bearer(hub_state, "resident2"),
        )
    ).json()
    assert case["answers"]["child_resident_number"] == "240115-3******"
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT CAST(answers AS TEXT) FROM applications WHERE application_id = :a"),
            {"a": case["application_id"]},
        ).scalar_one()
    engine.dispose()
    assert number not in stored and "240115-3234567" not in stored
    assert not any(number in str(row) for row in audit_rows(backend))


async def test_a_resident_number_typed_into_another_field_is_refused(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    answers = {**TYPED["basic_pension"], **PERSONAL, "address": "서울 240115-3234567"}
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "basic_pension", "answers": answers},
        headers=account_bearer(hub_state, "resident0"),
    )
    body = assert_problem(response, 422, "validation-error")
    assert "240115" not in response.text
    assert body["fields"] == [{"field": "address", "code": "resident_number_not_allowed"}]


async def test_forms_are_listed_and_an_unknown_form_is_a_problem(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    listed = (await api.get("/v1/forms")).json()["forms"]
    assert {f["form_type"] for f in listed} >= {"moving_in_report", "housing_benefit"}
    detail = (await api.get("/v1/forms/moving_in_report")).json()
    assert detail["prefill"][0]["document_type"] == "resident_registration_abstract"
    assert {f["field"] for f in detail["prefill"][0]["fields"]} == {
        "applicant_name",
        "birth_date",
        "previous_address",
        "previous_postal_code",
    }
    assert_problem(
        await api.get("/v1/forms/no_such_form", headers={"Accept-Language": "ko"}), 404, "unknown-form"
    )
    response = await api.post(
        "/v1/me/applications",
        json={"form_type": "basic_pension", "answers": {}, "consent_to_prefill": ["vehicle_registration"]},
        headers=account_bearer(hub_state, "resident0"),
    )
    assert_problem(response, 422, "prefill-document-not-in-form")
