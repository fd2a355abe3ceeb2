"""The offline hand-off end to end over HTTP: the phone asks for its application sealed for a counter, the
counter decodes the pictures of the codes, once."""

from __future__ import annotations

import base64

import httpx
import pytest

from hub.applications import handoff
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, principal
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

FORM = "basic_pension"
COUNTER = handoff.counter_id_for("Test Office")  # the seeded official's office


async def _case(state: HubState) -> str:
    resident = await principal(state, "resident0")
    async with transaction(state.sessions) as session:
        row = await state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-handoff"
        )
        return row.application_id


async def test_phone_to_counter_through_qr_pictures(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    hub_state.handoff.counter_public_jwk(COUNTER, create=True)  # the counter was given its key pair
    case_id = await _case(hub_state)
    resident = account_bearer(hub_state, "resident0")

    sealed = await api.post(
        f"/v1/me/applications/{case_id}/handoff", json={"counter_id": COUNTER}, headers=resident
    )
    assert sealed.status_code == 200, sealed.text
    body = sealed.json()
    assert all(chunk.startswith("GYH1:") for chunk in body["chunks"])
    pictures = [base64.b64encode(png).decode() for png in handoff.render_pngs(body["chunks"])]

    official = account_bearer(hub_state, "official")
    decoded = await api.post("/v1/counter/handoff/decode", json={"images": pictures}, headers=official)
    assert decoded.status_code == 200, decoded.text
    application = decoded.json()["application"]
    assert (application["application_id"], application["form_type"]) == (case_id, FORM)
    assert application["answers"]["bank_name"] == TYPED[FORM]["bank_name"]
    assert decoded.json()["jti"] == body["jti"]

    again = await api.post("/v1/counter/handoff/decode", json={"images": pictures}, headers=official)
    assert_problem(again, 409, "handoff-replayed")

    applicant = await principal(hub_state, "resident0")
    [issued] = [
        r
        for r in audit_rows(backend)
        if r["kind"] == "application_handoff_seal" and f"jti:{body['jti']}" in r["fields"]
    ]
    assert issued["subject_commitment"] == applicant.subject_commitment
    assert issued["basis"] == f"application:{case_id}"


async def test_a_phone_cannot_seal_for_an_unknown_counter_or_anothers_application(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    case_id = await _case(hub_state)
    unknown = await api.post(
        f"/v1/me/applications/{case_id}/handoff",
        json={"counter_id": "org-no-such-counter"},
        headers=account_bearer(hub_state, "resident0"),
    )
    assert_problem(unknown, 404, "not-found")
    assert not (
        hub_state.settings.effective_key_dir / "applications" / "counters" / "org-no-such-counter.p256.pem"
    ).exists()
    hub_state.handoff.counter_public_jwk(COUNTER, create=True)
    others = await api.post(
        f"/v1/me/applications/{case_id}/handoff",
        json={"counter_id": COUNTER},
        headers=account_bearer(hub_state, "resident1"),
    )
    assert_problem(others, 404, "application-not-found")
