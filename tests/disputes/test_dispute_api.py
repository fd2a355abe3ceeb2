"""Disputes of an access through the API: routed to the accessing organisation's privacy officer only,
answered or escalated to an auditor, each step an audit event with the resident's notice, and every
refusal a problem+json that writes nothing."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import create_engine, text

from audit import merkle
from hub.notify.outbox import NOTIFIED_KINDS
from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows
from tests.disputes.support import bank_entry, privacy_officer

pytestmark = pytest.mark.anyio


def _outbox_kinds(backend: Backend, event_ids: list[str]) -> dict[str, str]:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, kind FROM outbox")).all()
    engine.dispose()
    return {r.event_id: r.kind for r in rows if r.event_id in event_ids}


def _disputes(backend: Backend) -> int:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM access_disputes")).scalar_one()
    engine.dispose()
    return int(count)


async def test_a_dispute_reaches_the_accessing_organisations_officer_and_no_other(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    leaf = await bank_entry(api, hub_state, backend)
    resident = account_bearer(hub_state, "resident0")
    filed = await api.post(
        "/v1/me/disputes",
        json={"leaf_index": leaf, "reason": "I never applied at this bank"},
        headers=resident,
    )
    assert filed.status_code == 201, filed.text
    dispute = filed.json()
    assert dispute["case_type"] == "access_dispute" and dispute["status"] == "open"
    assert dispute["org"] == "Test Bank" and dispute["leaf_index"] == leaf

    # The attached proof is the entry's, against the signed checkpoint it carries.
    proof = dispute["inclusion_proof"]
    leaf_bytes = base64.b64decode(proof["leaf"])
    assert json.loads(leaf_bytes)["event_id"] == dispute["event_id"]
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    root = merkle.root_from_inclusion_proof(merkle.leaf_hash(leaf_bytes), leaf, proof["tree_size"], hashes)
    assert base64.b64encode(root).decode() in proof["checkpoint"]

    bank_officer = await privacy_officer(hub_state, "privacy-bank", "Test Bank")
    other_officer = await privacy_officer(hub_state, "privacy-office", "Test Office")
    bank_queue = (await api.get("/v1/disputes", headers=bank_officer)).json()["disputes"]
    assert dispute["dispute_id"] in {d["dispute_id"] for d in bank_queue}
    other_queue = (await api.get("/v1/disputes", headers=other_officer)).json()["disputes"]
    assert dispute["dispute_id"] not in {d["dispute_id"] for d in other_queue}
    not_theirs = await api.post(
        f"/v1/disputes/{dispute['dispute_id']}/answer",
        json={"action": "error_acknowledged", "answer": "sorry"},
        headers=other_officer,
    )
    assert not_theirs.status_code == 404 and not_theirs.json()["type"] == "/problems/dispute-not-found"
    mine = (await api.get("/v1/me/disputes", headers=resident)).json()["disputes"]
    assert [d["dispute_id"] for d in mine][:1] == [dispute["dispute_id"]]
    theirs = (await api.get("/v1/me/disputes", headers=account_bearer(hub_state, "resident1"))).json()
    assert dispute["dispute_id"] not in {d["dispute_id"] for d in theirs["disputes"]}


async def test_escalation_then_an_auditors_answer_each_step_audited_and_notified(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    leaf = await bank_entry(api, hub_state, backend)
    resident = account_bearer(hub_state, "resident0")
    filed = await api.post(
        "/v1/me/disputes", json={"leaf_index": leaf, "reason": "unexpected"}, headers=resident
    )
    dispute_id = filed.json()["dispute_id"]
    officer = await privacy_officer(hub_state, "privacy-bank", "Test Bank")
    auditor = account_bearer(hub_state, "auditor")
    url = f"/v1/disputes/{dispute_id}/answer"

    # The auditor cannot answer before the officer escalates; the officer escalates.
    early = await api.post(
        url, json={"action": "justified", "answer": "x", "basis": "KR-FTRA-5-2"}, headers=auditor
    )
    assert early.status_code == 409 and early.json()["type"] == "/problems/dispute-wrong-step"
    escalated = await api.post(url, json={"action": "escalated", "answer": "needs an audit"}, headers=officer)
    assert escalated.status_code == 200 and escalated.json()["status"] == "escalated"
    assert escalated.json()["escalated_at"] is not None

    # Justified needs its basis; the officer can no longer answer once escalated.
    no_basis = await api.post(url, json={"action": "justified", "answer": "lawful"}, headers=auditor)
    assert no_basis.status_code == 422
    late = await api.post(url, json={"action": "error_acknowledged", "answer": "x"}, headers=officer)
    assert late.status_code == 409
    answered = await api.post(
        url,
        json={"action": "justified", "answer": "customer due diligence", "basis": "KR-FTRA-5-2"},
        headers=auditor,
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "justified" and body["answer_basis"] == "KR-FTRA-5-2"
    assert body["answer_seconds"] is not None and body["answer_seconds"] >= 0
    assert [s["status"] for s in body["history"]] == ["open", "escalated", "justified"]
    assert [s["actor_kind"] for s in body["history"]] == ["resident", "official", "auditor"]

    # Every step is an audit event about the resident, and each has the resident's notice.
    event_ids = [s["event_id"] for s in body["history"]]
    rows = {r["event_id"]: r for r in audit_rows(backend) if r["event_id"] in event_ids}
    assert [rows[e]["kind"] for e in event_ids] == ["dispute_filed", "dispute_escalated", "dispute_justified"]
    assert {rows[e]["basis"] for e in event_ids} == {f"dispute:{dispute_id}"}
    assert rows[event_ids[1]]["actor_org"] == "Test Bank"
    commitment = rows[event_ids[0]]["subject_commitment"]
    assert commitment and {rows[e]["subject_commitment"] for e in event_ids} == {commitment}
    assert {k for k in ("dispute_filed", "dispute_escalated", "dispute_justified")} <= NOTIFIED_KINDS
    assert _outbox_kinds(backend, event_ids) == {e: rows[e]["kind"] for e in event_ids}

    everything = (await api.get("/v1/disputes", headers=auditor)).json()["disputes"]
    assert dispute_id in {d["dispute_id"] for d in everything}


async def test_the_officer_acknowledges_an_error(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    leaf = await bank_entry(api, hub_state, backend)
    filed = await api.post(
        "/v1/me/disputes",
        json={"leaf_index": leaf, "reason": "wrong person"},
        headers=account_bearer(hub_state, "resident0"),
    )
    officer = await privacy_officer(hub_state, "privacy-bank", "Test Bank")
    answered = await api.post(
        f"/v1/disputes/{filed.json()['dispute_id']}/answer",
        json={"action": "error_acknowledged", "answer": "Our clerk typed the wrong number."},
        headers=officer,
    )
    assert answered.status_code == 200
    assert answered.json()["status"] == "error_acknowledged" and answered.json()["answer_basis"] is None
    again = await api.post(
        f"/v1/disputes/{filed.json()['dispute_id']}/answer",
        json={"action": "justified", "answer": "x", "basis": "y"},
        headers=officer,
    )
    assert again.status_code == 409


async def test_refusals_are_problems_and_write_nothing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    leaf = await bank_entry(api, hub_state, backend)
    resident = account_bearer(hub_state, "resident0")
    before, events = _disputes(backend), len(audit_rows(backend))

    def problem(response: httpx.Response, status: int, slug: str) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == f"/problems/{slug}"

    other = account_bearer(hub_state, "resident1")
    problem(
        await api.post("/v1/me/disputes", json={"leaf_index": leaf, "reason": "x"}, headers=other),
        403,
        "dispute-not-yours",
    )
    problem(
        await api.post("/v1/me/disputes", json={"leaf_index": 10**9, "reason": "x"}, headers=resident),
        404,
        "leaf-not-found",
    )
    number = backend.residents[0]["resident_number"]
    problem(
        await api.post(
            "/v1/me/disputes", json={"leaf_index": leaf, "reason": f"my number {number}"}, headers=resident
        ),
        422,
        "validation-error",
    )
    problem(
        await api.post("/v1/me/disputes", json={"leaf_index": -1, "reason": "x"}, headers=resident),
        422,
        "validation-error",
    )
    assert (_disputes(backend), len(audit_rows(backend))) == (before, events)

    first = await api.post("/v1/me/disputes", json={"leaf_index": leaf, "reason": "x"}, headers=resident)
    assert first.status_code == 201
    problem(
        await api.post("/v1/me/disputes", json={"leaf_index": leaf, "reason": "again"}, headers=resident),
        409,
        "dispute-exists",
    )
    assert _disputes(backend) == before + 1

    # The resident's own step (here: filing the dispute) has no organisation to answer for it.
    await hub_state.integrator.integrate_once()
    log = (await api.get("/v1/me/access-log", params={"limit": 5}, headers=resident)).json()["entries"]
    own = next(e for e in log if e["kind"] == "dispute_filed")
    problem(
        await api.post(
            "/v1/me/disputes", json={"leaf_index": own["leaf_index"], "reason": "x"}, headers=resident
        ),
        422,
        "dispute-not-routable",
    )
    problem(await api.get("/v1/disputes", headers=resident), 403, "role-required")
