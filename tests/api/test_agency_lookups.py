"""Every document type in the catalog, fetched end to end through its agency's adapter, on both databases.

The subjects are picked from the agencies' own databases (someone who owns a building, runs a business, ...),
and the answers are checked against the MOIS registry: every agency knows the same synthetic people.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from adapters.sandbox.synthetic import format_resident_number
from hub.settings import sync_url
from hub.state import HubState
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio

# document type -> (agency database, SQL picking a subject who has such a record, statute, views)
CASES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "family_relations_certificate": (
        "court",
        "SELECT resident_number FROM family_links GROUP BY resident_number HAVING COUNT(*) >= 3 "
        "ORDER BY resident_number LIMIT 1",
        "KR-FRRA-14-1-1",
        ("general", "detailed", "specific"),
    ),
    "basic_certificate": (
        "court",
        "SELECT resident_number FROM persons ORDER BY resident_number LIMIT 1",
        "KR-FRRA-14-1-1",
        ("general", "detailed"),
    ),
    "marriage_relations_certificate": (
        "court",
        "SELECT resident_number FROM marriage_events ORDER BY resident_number LIMIT 1",
        "KR-FRRA-14-1-1",
        ("general", "detailed"),
    ),
    "national_tax_payment_certificate": (
        "nts",
        "SELECT resident_number FROM arrears ORDER BY resident_number LIMIT 1",
        "KR-FBTA-81-13-1",
        ("basic", "detailed"),
    ),
    "income_amount_certificate": (
        "nts",
        "SELECT resident_number FROM incomes ORDER BY resident_number LIMIT 1",
        "KR-FBTA-81-13-1",
        ("summary", "detailed"),
    ),
    "business_registration_certificate": (
        "nts",
        "SELECT resident_number FROM businesses ORDER BY resident_number LIMIT 1",
        "KR-FBTA-81-13-1",
        ("basic", "full"),
    ),
    "health_insurance_eligibility": (
        "nhis",
        "SELECT resident_number FROM eligibility GROUP BY resident_number HAVING COUNT(*) >= 2 "
        "ORDER BY resident_number LIMIT 1",
        "KR-EGA-36-2",
        ("current", "with_history"),
    ),
    "local_tax_payment_certificate": (
        "localtax",
        "SELECT resident_number FROM local_arrears ORDER BY resident_number LIMIT 1",
        "KR-EGA-36-2",
        ("basic", "detailed"),
    ),
    "building_register": (
        "molit",
        "SELECT owner_number FROM buildings ORDER BY owner_number LIMIT 1",
        "KR-EGA-36-2",
        ("basic", "full"),
    ),
    "vehicle_registration": (
        "molit",
        "SELECT owner_number FROM vehicles ORDER BY owner_number LIMIT 1",
        "KR-EGA-36-2",
        ("basic", "full"),
    ),
}


def _agency_scalar(backend: Backend, agency: str, sql: str) -> Any:
    engine = create_engine(sync_url(backend.settings.agency_database_url(agency)))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def _mois_name(backend: Backend, number: str) -> str:
    return str(
        _agency_scalar(backend, "mois", f"SELECT name_ko FROM residents WHERE resident_number = '{number}'")
    )


@pytest.mark.parametrize("document_type", sorted(CASES))
async def test_every_document_type_is_fetched_end_to_end(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, document_type: str
) -> None:
    agency, pick, statute, views = CASES[document_type]
    number = str(_agency_scalar(backend, agency, pick))
    name = _mois_name(backend, number)
    spec = hub_state.catalog[document_type]
    for view in views:
        body = lookup_body(format_resident_number(number), document_type, view, statute)
        response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["holder"] == spec.holder and answer["view"] == view
        assert set(answer["fields"]) == set(spec.view_selection(view))
        assert name in response.text, "the agency names the same person MOIS does"
        assert number not in response.text.replace("-", ""), "never the full resident number"
        row = next(r for r in audit_rows(backend) if r["event_id"] == answer["audit"]["event_id"])
        assert (row["outcome"], row["document_type"], row["view"]) == ("ok", document_type, view)
        assert row["basis"] == f"statute:{statute}"
    full = spec.views[-1].name
    fields = (
        await api.post(
            "/v1/lookups",
            json=lookup_body(format_resident_number(number), document_type, full, statute),
            headers=bearer(hub_state, "test-agency"),
        )
    ).json()["fields"]
    lists = [f.name for f in spec.fields if f.type == "list" and f.name in fields]
    assert all(fields[name] for name in lists), f"{document_type}: the chosen subject has list entries"


async def test_family_relations_name_the_household(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """The court's family relations certificate lists the spouse MOIS has in the same household."""
    number = str(
        _agency_scalar(
            backend,
            "mois",
            "SELECT r.resident_number FROM residents r WHERE r.relation_to_head = '본인' AND EXISTS "
            "(SELECT 1 FROM residents s WHERE s.household_id = r.household_id "
            "AND s.relation_to_head = '배우자') "
            "ORDER BY r.resident_id LIMIT 1",
        )
    )
    spouse = str(
        _agency_scalar(
            backend,
            "mois",
            "SELECT s.name_ko FROM residents s JOIN residents r ON r.household_id = s.household_id "
            f"WHERE r.resident_number = '{number}' AND s.relation_to_head = '배우자'",
        )
    )
    body = lookup_body(
        format_resident_number(number), "family_relations_certificate", "general", "KR-FRRA-14-1-1"
    )
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
    assert response.status_code == 200, response.text
    members = response.json()["fields"]["members"]
    assert {"relation": "배우자", "name": spouse} in [
        {k: m[k] for k in ("relation", "name")} for m in members
    ]
    assert set(members[0]) == {"relation", "name", "birth_date", "sex"}  # the general view's item fields


@pytest.mark.parametrize(
    ("document_type", "view", "statute"),
    [
        ("family_relations_certificate", "general", "KR-FRRA-14-1-1"),  # SOAP fault NotFound
        ("business_registration_certificate", "basic", "KR-FBTA-81-13-1"),  # REST 404
        ("vehicle_registration", "basic", "KR-EGA-36-2"),  # SQL, no row
    ],
)
async def test_unknown_subject_is_404_for_every_adapter_kind(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, document_type: str, view: str, statute: str
) -> None:
    body = lookup_body("010101-9000008", document_type, view, statute)
    response = await api.post("/v1/lookups", json=body, headers=bearer(hub_state, "test-agency"))
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "/problems/subject-not-found"


async def test_readyz_reports_every_agency(api: httpx.AsyncClient, hub_state: HubState) -> None:
    response = await api.get("/readyz")
    checks = response.json()["checks"]
    assert {f"agency:{name}" for name in hub_state.adapters} <= set(checks)
    assert {"agency:court", "agency:nts", "agency:nhis", "agency:localtax", "agency:molit"} <= set(checks)
    assert all(checks[f"agency:{name}"] == "ok" for name in hub_state.adapters), checks


async def test_bank_sees_vehicles_under_the_motor_vehicle_act_only_in_the_basic_view(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    number = format_resident_number(
        str(_agency_scalar(backend, "molit", "SELECT owner_number FROM vehicles ORDER BY vehicle_id LIMIT 1"))
    )
    token = hub_state.tokens.issue("test-bank", "bank", "Test Bank", ["KR-MVMA-7"])
    headers = {"Authorization": f"Bearer {token}"}
    ok = await api.post(
        "/v1/lookups", json=lookup_body(number, "vehicle_registration", "basic", "KR-MVMA-7"), headers=headers
    )
    assert ok.status_code == 200, ok.text
    assert set(ok.json()["fields"]["vehicles"][0]) == {"plate_number", "model_name", "model_year"}
    refused = await api.post(
        "/v1/lookups", json=lookup_body(number, "vehicle_registration", "full", "KR-MVMA-7"), headers=headers
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "view_not_allowed"
