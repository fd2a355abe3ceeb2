"""Issuing under a consent (bank API, counter) and for oneself (resident portal); the counter's day list."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, audit_rows, bearer
from tests.helpers.consent_flow import consent_lookup, granted
from tests.helpers.pages import CSRF, browsers, sign_in

pytestmark = pytest.mark.anyio
NUMBER = re.compile(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b")
__all__ = ["browsers"]  # the fixture, re-exported for pytest


async def test_a_bank_issues_under_a_consent_once_and_the_document_names_the_consent(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    consent_id = await granted(api, hub_state)
    issued = await api.post("/v1/issuances", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert issued.status_code == 201, issued.text
    number = issued.json()["issuance_number"]
    again = await api.post("/v1/issuances", json=consent_lookup(consent_id), headers=bearer(hub_state))
    assert again.status_code == 403 and again.json()["type"] == "/problems/consent-exhausted"

    verified = await api.post("/v1/verify", json={"issuance_number": number})
    assert verified.json()["status"] == "valid"
    commitment = hub_state.committer.commit(backend.residents[0]["resident_number"].replace("-", ""))
    event_id = issued.json()["audit"]["event_id"]
    issuance = next(r for r in audit_rows(backend) if r["event_id"] == event_id)
    assert (issuance["kind"], issuance["outcome"]) == ("issuance", "ok")
    assert issuance["subject_commitment"] == commitment


async def _open_session(desk: httpx.AsyncClient, **data: object) -> str:
    form = await desk.get("/counter")
    assert form.status_code == 200
    opened = await desk.post("/counter", data={"csrf": CSRF.search(form.text).group(1), **data})  # type: ignore[union-attr]
    assert opened.status_code == 303, opened.text
    return str(opened.headers["location"])


async def _approve_on_phone(phone: httpx.AsyncClient, session_url: str, resident: str) -> None:
    request_id = urlparse(session_url).path.rsplit("/", 1)[1]
    token = parse_qs(urlparse(session_url).query)["t"][0]
    assert (await phone.get(f"/consent/{request_id}?t={token}")).status_code == 303
    await sign_in(phone, resident, f"{resident}-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    assert page.status_code == 200, page.text
    done = await phone.post(
        f"/consent/{request_id}",
        data={"decision": "approve", "csrf": CSRF.search(page.text).group(1)},  # type: ignore[union-attr]
    )
    assert done.status_code == 200


async def test_the_counter_issues_e_documents_of_an_approved_session_and_lists_the_days_sessions(
    browsers,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    desk, phone = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    session_url = await _open_session(
        desk,
        documents=["resident_registration_abstract:basic"],
        purpose_code="counter-service",
        issue="true",
    )
    assert "issue=1" in session_url
    await _approve_on_phone(phone, session_url, "resident1")

    shown = await desk.get(session_url)
    assert shown.status_code == 200
    assert backend.residents[1]["name_ko"] in shown.text, "the fields are shown next to the issued document"
    number = NUMBER.search(shown.text)
    assert number, "the issuance number is on the page"
    pdf = await desk.get(f"/counter/issuances/{number.group(0)}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert (await phone.get(f"/counter/issuances/{number.group(0)}/pdf")).status_code in (303, 404)
    verified = await desk.post("/v1/verify", json={"issuance_number": number.group(0)})
    assert verified.json()["status"] == "valid"

    pending_url = await _open_session(desk, documents=["family_relations_certificate:general"])
    day = await desk.get("/counter", params={"lang": "en"})
    rows = re.findall(r"<tr>.*?</tr>", day.text, flags=re.S)
    assert any("Approved" in row for row in rows) and any("Waiting for the resident" in row for row in rows)
    request_id = urlparse(pending_url).path.rsplit("/", 1)[1]
    assert f"/counter/sessions/{request_id}" in day.text
    assert re.search(r"\d+\s*(second|minute)", day.text), "the waiting time is shown in words"


async def test_a_counter_session_can_be_opened_for_a_life_event_bundle(browsers, hub_state: HubState) -> None:  # type: ignore[no-untyped-def]
    desk, _ = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    session_url = await _open_session(desk, bundle="moving_house")
    request_id = urlparse(session_url).path.rsplit("/", 1)[1]
    async with hub_state.sessions() as db:
        view = await hub_state.consent.get_request(db, request_id)
    assert view is not None
    bundle = hub_state.bundles["moving_house"]
    assert {d["document_type"] for d in view.documents} == {d.type for d in bundle.documents}
    assert view.purpose_code == bundle.purpose_code


async def test_a_counter_session_needs_a_document(browsers) -> None:  # type: ignore[no-untyped-def]
    desk, _ = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    form = await desk.get("/counter")
    refused = await desk.post(
        "/counter",
        data={"csrf": CSRF.search(form.text).group(1)},
        params={"lang": "en"},  # type: ignore[union-attr]
    )
    assert refused.status_code == 422 and "Choose at least one document" in refused.text


async def test_a_resident_issues_and_downloads_their_own_e_document(
    browsers,
    hub_state: HubState,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    phone, other = browsers
    await sign_in(phone, "resident0", "resident0-pw", "/me/documents")
    page = await phone.get("/me/documents", params={"lang": "en"})
    assert page.status_code == 200 and 'value="resident_registration_abstract:basic"' in page.text
    # The session's database is shared by the test files a worker runs: resident0 may hold documents already.
    before = set(re.findall(r"/me/documents/([^/\"]+)/pdf", page.text))
    assert before or "No e-documents yet." in page.text
    issued = await phone.post(
        "/me/documents",
        data={"csrf": CSRF.search(page.text).group(1), "document": "resident_registration_abstract:basic"},  # type: ignore[union-attr]
    )
    assert issued.status_code == 303, issued.text
    number = parse_qs(urlparse(issued.headers["location"]).query)["issued"][0]
    listed = await phone.get(issued.headers["location"])
    assert number not in before and f"/me/documents/{number}/pdf" in listed.text
    pdf = await phone.get(f"/me/documents/{number}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    await sign_in(other, "resident1", "resident1-pw", "/me/documents")
    assert (await other.get(f"/me/documents/{number}/pdf")).status_code == 404, "someone else's document"

    commitment = hub_state.committer.commit(backend.residents[0]["resident_number"].replace("-", ""))
    mine = [r for r in audit_rows(backend) if r["subject_commitment"] == commitment]
    assert any(r["kind"] == "issuance" and r["outcome"] == "ok" for r in mine)
    own = [r for r in mine if r["kind"] == "lookup" and r["basis"] == "self"]
    assert any(r["purpose_code"] == "self-issuance" for r in own)


async def test_a_resident_cannot_issue_a_document_type_that_is_not_issuable(
    browsers,
    hub_state: HubState,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    phone, _ = browsers
    spec = hub_state.catalog["income_amount_certificate"]
    not_issuable = spec.model_copy(update={"issuable": False})
    monkeypatch.setitem(hub_state.catalog._specs, spec.type, not_issuable)
    await sign_in(phone, "resident0", "resident0-pw", "/me/documents")
    page = await phone.get("/me/documents")
    assert f'value="{not_issuable.type}:' not in page.text
    refused = await phone.post(
        "/me/documents",
        data={
            "csrf": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
            "document": f"{not_issuable.type}:{not_issuable.views[0].name}",
        },
    )
    assert refused.status_code == 422 and "<h1>" in refused.text
