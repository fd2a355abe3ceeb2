"""Nothing shaped like a resident number reaches the audit log or an error detail (issue 16, point 4).

For each field a client controls that is written into the log or echoed in a problem (purpose code and text,
statute, document type and view before the catalog is consulted, bundle, revocation reason, the request id),
a request carrying a resident-number shape (with or without the hyphen, also inside a longer string) is
refused with a problem that does not echo it, or the value is dropped; and none of the audit rows written
meanwhile holds such a shape. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.resident_number import contains_resident_number
from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio
SHAPES = ("900101-1234567", "9001011234567", "KR-9001011234567", "x900101 1234567y", "19001011234567")
AGENCY_STATUTE = "KR-RRA-29-2-1"


# The columns a client's input can reach. Not the hub's own hex values (event id, subject commitment): a
# 64-hex-digit HMAC can by chance hold a date-shaped run of 13 decimal digits, and is no resident number.
CLIENT_COLUMNS = ("actor_org", "document_type", "view", "fields", "purpose_code", "purpose_text", "basis")
CLIENT_COLUMNS += ("reason", "request_id")


def _text(row: dict[str, object]) -> str:
    return json.dumps([row.get(column) for column in CLIENT_COLUMNS], default=str, ensure_ascii=False)


def _assert_log_clean(backend: Backend, before: int) -> None:
    written = audit_rows(backend)[before:]
    leaked = [row["event_id"] for row in written if contains_resident_number(_text(row))]
    assert leaked == [], "audit rows written in this test hold a resident-number shape"


def _assert_refused_unechoed(response: httpx.Response, shape: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/validation-error"
    digits = "".join(c for c in shape if c.isdigit())
    assert shape not in response.text and digits[:6] not in response.text


def _variants(resident_number: str, shape: str) -> list[tuple[str, dict[str, Any]]]:
    base = lookup_body(resident_number)
    return [
        ("purpose code (string)", {**base, "purpose": shape.lower()}),
        ("purpose code", {**base, "purpose": {"code": shape.lower()}}),
        ("purpose text", {**base, "purpose": {"code": "loan-screening", "text": f"심사 {shape}"}}),
        ("statute", {**base, "basis": {"statute": f"KR-{shape.upper().replace(' ', '-')}"}}),
        ("document type", {**base, "document_type": f"doc_{shape}"}),
        ("view", {**base, "view": shape}),
    ]


@pytest.mark.parametrize("shape", SHAPES)
async def test_lookup_fields_refuse_resident_number_shapes_and_log_none(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, shape: str
) -> None:
    before = len(audit_rows(backend))
    for field, body in _variants(backend.residents[0]["resident_number"], shape):
        response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
        assert response.status_code == 422, (field, response.text)
        _assert_refused_unechoed(response, shape)
        if not field.startswith("purpose code") or " " not in shape:  # else the pattern refuses it first
            assert "resident_number_shape" in response.json()["detail"], field
        issued = await api.post("/v1/issuances", json=body, headers=bearer(hub_state))
        _assert_refused_unechoed(issued, shape)
    _assert_log_clean(backend, before)


async def test_bundle_and_consent_request_purposes_refuse_the_shape(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    before = len(audit_rows(backend))
    shape = SHAPES[0]
    subject = {"resident_number": backend.residents[0]["resident_number"]}
    for body in (
        {
            "bundle": f"loan_{shape}",
            "subject": subject,
            "purpose": "loan-screening",
            "basis": {"statute": "KR-X"},
        },
        {"bundle": "loan_application", "subject": subject, "purpose": shape, "basis": {"statute": "KR-X"}},
    ):
        response = await api.post("/v1/lookups/bundle", json=body, headers=bearer(hub_state))
        _assert_refused_unechoed(response, shape)
    consent = await api.post(
        "/v1/consent-requests",
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": f"for {shape}"},
            "redirect_uri": "https://bank.test/callback",
        },
        headers=bearer(hub_state),
    )
    _assert_refused_unechoed(consent, shape)
    _assert_log_clean(backend, before)


async def test_a_refused_statute_is_not_echoed_in_the_403_detail(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    # A well-formed statute the client was never granted: the detail names no client text.
    body = lookup_body(backend.residents[0]["resident_number"], statute="KR-ZZ-NOT-GRANTED")
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    assert response.status_code == 403 and response.json()["reason"] == "statute_not_granted"
    assert "KR-ZZ-NOT-GRANTED" not in response.text


async def test_revocation_reasons_refuse_the_shape(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    agency = bearer(hub_state, "test-agency")
    body = lookup_body(backend.residents[0]["resident_number"], statute=AGENCY_STATUTE)
    issued = await api.post("/v1/issuances", json=body, headers=agency)
    assert issued.status_code == 201, issued.text
    number = issued.json()["issuance_number"]
    before = len(audit_rows(backend))
    for shape in SHAPES:
        response = await api.post(
            f"/v1/issuances/{number}/revoke", json={"reason": f"wrong subject {shape}"}, headers=agency
        )
        _assert_refused_unechoed(response, shape)
    assert len(audit_rows(backend)) == before, "a refused revocation writes nothing"


@pytest.mark.parametrize("incoming", ["900101-1234567", "req-9001011234567", "req 1", "x" * 65, "a;b=c<d>ef"])
async def test_an_unsafe_request_id_is_replaced_before_it_reaches_the_log(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, incoming: str
) -> None:
    before = len(audit_rows(backend))
    body = lookup_body(backend.residents[0]["resident_number"])
    response = await api.post(
        "/v1/lookups",
        json=body,
        headers={**bearer(hub_state), "X-Request-ID": incoming},
    )
    assert response.status_code == 200, response.text
    replaced = response.headers["x-request-id"]
    assert replaced != incoming and not contains_resident_number(replaced)
    (event,) = audit_rows(backend)[before:]
    assert event["request_id"] == replaced
    _assert_log_clean(backend, before)


async def test_a_safe_request_id_is_kept(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"])
    headers = {**bearer(hub_state), "X-Request-ID": "bank-req.0001_abc"}
    response = await api.post("/v1/lookups", json=body, headers=headers)
    assert response.status_code == 200 and response.headers["x-request-id"] == "bank-req.0001_abc"
    assert audit_rows(backend)[-1]["request_id"] == "bank-req.0001_abc"


def test_the_detector_finds_every_shape_and_spares_ordinary_codes() -> None:
    for shape in (*SHAPES, "９００１０１－１２３４５６７", "900101 – 1234567", "900101.1234567"):
        assert contains_resident_number(shape), shape
    fine = ("loan-screening", "KR-FTRA-5-2", "1234-5678-9012-3452", "order 123456", "2026-12-01T10:00")
    for text in (*fine, "a1234567890123b", "99999999999999999"):  # long digit runs that hold no birth date
        assert not contains_resident_number(text), text


async def test_unknown_keys_and_paths_shaped_like_a_number_are_not_named_back(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    body = {**lookup_body("900101-1234567"), "900101-1234567": 1}
    refused = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    assert refused.status_code == 422
    assert "900101" not in refused.text and "(unknown key)" in refused.json()["detail"]
    path = await api.get("/v1/documents/x9001011234567")
    assert path.status_code == 404 and "9001011234567" not in path.text
    request = {
        "documents": [{"document_type": "900101-1234567", "view": "basic"}],
        "purpose": {"code": "kyc"},
        "redirect_uri": "https://bank.test/callback",
    }
    consent = await api.post("/v1/consent-requests", json=request, headers=bearer(hub_state))
    assert consent.status_code == 422 and "900101" not in consent.text


async def test_an_auditors_export_of_the_last_minutes_holds_no_shape(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """The issue's own check: after every field was tried, the auditor's export shows no shape anywhere."""
    since = datetime.now(UTC) - timedelta(minutes=1)
    for shape in SHAPES:
        for _, body in _variants(backend.residents[0]["resident_number"], shape):
            await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
            await api.post("/v1/issuances", json=body, headers=bearer(hub_state))
        await api.post(
            "/v1/lookups",
            json=lookup_body(backend.residents[0]["resident_number"]),
            headers={**bearer(hub_state), "X-Request-ID": f"req-{shape}"},
        )
    await hub_state.integrator.integrate_once()
    exported = await api.get(
        "/v1/audit/export",
        params={"format": "jsonl", "from": since.isoformat()},
        headers=account_bearer(hub_state, "auditor"),
    )
    assert exported.status_code == 200, exported.text
    rows = [json.loads(line) for line in exported.text.splitlines() if line.strip()]
    assert rows, "the attempts are in the log"
    assert all(set(CLIENT_COLUMNS) <= row.keys() for row in rows), "the export carries every client column"
    leaked = [row.get("event_id") for row in rows if contains_resident_number(_text(row))]
    assert leaked == []
