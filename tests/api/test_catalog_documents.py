"""The public catalog (GET /v1/documents, /v1/bundles) and a document type added by a spec file alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text

from adapters.sandbox.synthetic import format_resident_number
from document_specs.loader import PACKAGE_DIR, load_catalog
from hub.app import create_app
from hub.settings import sync_url
from hub.state import HubState, build_state
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio

ISSUE5_TYPES = {
    "family_relations_certificate",
    "basic_certificate",
    "marriage_relations_certificate",
    "national_tax_payment_certificate",
    "income_amount_certificate",
    "business_registration_certificate",
    "health_insurance_eligibility",
    "local_tax_payment_certificate",
    "building_register",
    "vehicle_registration",
}


async def test_documents_lists_the_whole_catalog_without_agency_internals(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/documents")
    assert response.status_code == 200
    documents = {d["type"]: d for d in response.json()["documents"]}
    assert len(documents) >= 12 and ISSUE5_TYPES <= set(documents)
    for document in documents.values():
        assert document["titles"]["ko"] and document["titles"]["en"]
        assert document["holder"] and document["holder_titles"]["ko"] and document["holder_titles"]["en"]
        assert document["views"] and document["legal_bases"] and document["issuable"] is True
        assert all(b["code"].startswith("KR-") for b in document["legal_bases"])
        assert "query" not in document and "adapter" not in document
    holders = {d["holder"] for d in documents.values()}
    assert {"mois", "court", "nts", "nhis", "localtax", "molit"} <= holders


@pytest.mark.parametrize("document_type", sorted(ISSUE5_TYPES))
async def test_each_document_is_described(api: httpx.AsyncClient, document_type: str) -> None:
    response = await api.get(f"/v1/documents/{document_type}")
    assert response.status_code == 200
    assert response.json()["type"] == document_type
    assert "SELECT" not in response.text and "Envelope" not in response.text


async def test_bundles_are_listed_with_their_documents(api: httpx.AsyncClient) -> None:
    bundles = {b["id"]: b for b in (await api.get("/v1/bundles")).json()["bundles"]}
    assert {"moving_house", "loan_application", "marriage_registration", "starting_a_business"} <= set(
        bundles
    )
    loan = (await api.get("/v1/bundles/loan_application")).json()
    assert {d["type"] for d in loan["documents"]} >= {
        "income_amount_certificate",
        "resident_registration_abstract",
    }
    assert all(d["titles"]["ko"] and d["holder"] for d in loan["documents"])
    assert (await api.get("/v1/bundles/nope")).status_code == 404


# --- A new document type from a spec file alone (no code), for each adapter kind ------------------------

NEW_SPECS = {
    # MOLIT SQL: a one-line "does this person own a car" confirmation.
    "vehicle_ownership_confirmation": """
type = "vehicle_ownership_confirmation"
holder = "molit"
adapter = "molit"
subject_kind = "person"
titles = { ko = "자동차 소유 확인", en = "Vehicle ownership confirmation" }
holder_titles = { ko = "국토교통부", en = "Ministry of Land, Infrastructure and Transport" }
[query]
record = '''SELECT MIN(owner_name) AS owner_name, COUNT(*) AS vehicles
            FROM vehicles WHERE owner_number = :subject HAVING COUNT(*) > 0'''
[[fields]]
name = "owner_name"
type = "string"
titles = { ko = "소유자", en = "Owner" }
[[fields]]
name = "vehicles"
type = "integer"
titles = { ko = "차량 수", en = "Vehicles" }
[[views]]
name = "basic"
titles = { ko = "기본", en = "Basic" }
fields = ["owner_name", "vehicles"]
[[legal_bases]]
code = "KR-EGA-36-2"
titles = { ko = "전자정부법 제36조제2항", en = "Electronic Government Act, Art. 36(2)" }
client_kinds = ["agency"]
views = ["basic"]
""",
    # NTS REST: only the arrears flag, from the endpoint the tax certificate uses.
    "national_tax_arrears_flag": """
type = "national_tax_arrears_flag"
holder = "nts"
adapter = "nts"
subject_kind = "person"
titles = { ko = "국세 체납 여부", en = "National tax arrears flag" }
holder_titles = { ko = "국세청", en = "National Tax Service" }
[query]
path = "/v1/tax-payment-certificates/query"
record = "/certificate"
fields = { owes = "/has_arrears", name = "/taxpayer_name" }
[[fields]]
name = "name"
type = "string"
titles = { ko = "성명", en = "Name" }
[[fields]]
name = "owes"
type = "boolean"
titles = { ko = "체납 여부", en = "Owes tax" }
[[views]]
name = "basic"
titles = { ko = "기본", en = "Basic" }
fields = ["name", "owes"]
[[legal_bases]]
code = "KR-EGA-36-2"
titles = { ko = "전자정부법 제36조제2항", en = "Electronic Government Act, Art. 36(2)" }
client_kinds = ["agency"]
views = ["basic"]
""",
    # Court SOAP 1.2: the number of registered family members, from the family relations operation.
    "family_size_confirmation": """
type = "family_size_confirmation"
holder = "court"
adapter = "court"
subject_kind = "person"
titles = { ko = "가족 수 확인", en = "Family size confirmation" }
holder_titles = { ko = "법원행정처", en = "National Court Administration" }
[query]
endpoint = "/FamilyRegistryService"
soap_version = "1.2"
namespace = "urn:kr:scourt:family-registry:v1"
operation = "GetFamilyRelationsCertificate"
response = "fr:FamilyRelationsCertificate"
namespaces = { fr = "urn:kr:scourt:family-registry:v1" }
record = { name = "fr:Principal/fr:Name", members = "count(fr:Members/fr:Member)" }
[[fields]]
name = "name"
type = "string"
titles = { ko = "성명", en = "Name" }
[[fields]]
name = "members"
type = "integer"
titles = { ko = "가족 수", en = "Family members" }
[[views]]
name = "basic"
titles = { ko = "기본", en = "Basic" }
fields = ["name", "members"]
[[legal_bases]]
code = "KR-EGA-36-2"
titles = { ko = "전자정부법 제36조제2항", en = "Electronic Government Act, Art. 36(2)" }
client_kinds = ["agency"]
views = ["basic"]
""",
}


@pytest.fixture
async def extended(backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, HubState]]:
    for name, body in NEW_SPECS.items():
        (tmp_path / f"{name}.toml").write_text(body, encoding="utf-8")
    state = build_state(backend.settings, catalog=load_catalog(PACKAGE_DIR, tmp_path))
    app = create_app(backend.settings, state=state)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                yield client, state
    finally:
        await state.close()


def _agency_row(backend: Backend, agency: str, sql: str) -> tuple[object, ...]:
    engine = create_engine(sync_url(backend.settings.agency_database_url(agency)))
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(text(sql)).one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("document_type", "agency", "pick"),
    [
        (
            "vehicle_ownership_confirmation",
            "molit",
            "SELECT owner_number, COUNT(*) FROM vehicles GROUP BY owner_number ORDER BY owner_number LIMIT 1",
        ),
        (
            "national_tax_arrears_flag",
            "nts",
            "SELECT resident_number, has_arrears FROM taxpayers "
            "ORDER BY has_arrears DESC, resident_number LIMIT 1",
        ),
        (
            "family_size_confirmation",
            "court",
            "SELECT resident_number, COUNT(*) FROM family_links GROUP BY resident_number "
            "ORDER BY resident_number LIMIT 1",
        ),
    ],
)
async def test_a_new_document_type_needs_only_a_spec_file(
    extended: tuple[httpx.AsyncClient, HubState], backend: Backend, document_type: str, agency: str, pick: str
) -> None:
    client, state = extended
    assert (await client.get(f"/v1/documents/{document_type}")).status_code == 200
    number, expected = _agency_row(backend, agency, pick)
    body = lookup_body(format_resident_number(str(number)), document_type, "basic", "KR-EGA-36-2")
    response = await client.post("/v1/lookups", json=body, headers=bearer(state, "test-agency"))
    assert response.status_code == 200, response.text
    fields = response.json()["fields"]
    value = next(v for k, v in fields.items() if k != "name" and k != "owner_name")
    assert value == (bool(expected) if isinstance(value, bool) else int(str(expected)))
    row = next(r for r in audit_rows(backend) if r["event_id"] == response.json()["audit"]["event_id"])
    assert row["document_type"] == document_type and row["outcome"] == "ok"
