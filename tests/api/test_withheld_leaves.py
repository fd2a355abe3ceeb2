"""An entry whose disclosure is delayed stays withheld by index too: no leaf, no inclusion proof, except for
auditors. The resident's history already hides it; paging ``/v1/audit/leaves/{i}`` must not give it away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from audit import AuditEvent
from hub.state import HubState
from tests.conftest import Backend, account_bearer

pytestmark = pytest.mark.anyio


async def _append(state: HubState, commitment: str, visible_from: datetime | None) -> int:
    event = AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id="test-agency",
        actor_org="Test Office",
        outcome="ok",
        subject_commitment=commitment,
        basis="statute:KR-RRA-29-2-1",
        visible_from=visible_from,
    )
    event_id = (await state.audit.append(event)).event_id
    await state.integrator.integrate_once()
    async with state.sessions() as session:
        index = (
            await session.execute(
                text("SELECT leaf_index FROM audit_events WHERE event_id = :e"), {"e": event_id}
            )
        ).scalar_one()
    assert index is not None
    return int(index)


async def test_a_withheld_leaf_and_its_proof_are_served_to_auditors_only(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    commitment = hub_state.committer.commit(backend.residents[0]["resident_number"].replace("-", ""))
    covert = await _append(hub_state, commitment, datetime.now(UTC) + timedelta(days=30))
    disclosed = await _append(hub_state, commitment, datetime.now(UTC) - timedelta(seconds=1))
    plain = await _append(hub_state, commitment, None)
    resident = account_bearer(hub_state, "resident0")
    auditor = account_bearer(hub_state, "auditor")
    size = (await hub_state.audit_reader.latest_checkpoint()).tree_size  # type: ignore[union-attr]
    assert covert < disclosed < plain < size

    # The resident it concerns: the withheld leaf answers exactly like an index with nothing to read.
    withheld = await api.get(f"/v1/audit/leaves/{covert}", headers=resident)
    absent = await api.get(f"/v1/audit/leaves/{10**9}", headers=resident)
    assert withheld.status_code == absent.status_code == 404
    assert withheld.json()["type"] == absent.json()["type"] == "/problems/leaf-not-found"
    for index in (disclosed, plain):
        assert (await api.get(f"/v1/audit/leaves/{index}", headers=resident)).status_code == 200

    # Its inclusion proof: refused to anonymous callers and residents, as a missing leaf.
    for headers in ({}, resident):
        proof = await api.get("/v1/audit/proof/inclusion", params={"leaf_index": covert}, headers=headers)
        assert proof.status_code == 404, proof.text
        assert proof.json()["type"] == "/problems/leaf-not-found"
        pinned = await api.get(
            "/v1/audit/proof/inclusion", params={"leaf_index": covert, "tree_size": size}, headers=headers
        )
        assert pinned.status_code == 404
        for index in (disclosed, plain):
            shown = await api.get("/v1/audit/proof/inclusion", params={"leaf_index": index}, headers=headers)
            assert shown.status_code == 200

    # An auditor reads both.
    leaf = await api.get(f"/v1/audit/leaves/{covert}", headers=auditor)
    assert leaf.status_code == 200 and b'"visible_from":"' in leaf.content
    proof = await api.get("/v1/audit/proof/inclusion", params={"leaf_index": covert}, headers=auditor)
    assert proof.status_code == 200 and proof.json()["leaf_index"] == covert

    # Nor does the history page hand the leaf out (it withholds the entry and so its leaf).
    page = (await api.get("/v1/me/access-log", params={"limit": 100}, headers=resident)).json()
    assert covert not in {e["leaf_index"] for e in page["entries"]}
    assert plain in {e["leaf_index"] for e in page["entries"]}


async def test_a_withheld_proof_is_still_refused_with_an_invalid_or_non_auditor_token(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    commitment = hub_state.committer.commit(backend.residents[1]["resident_number"].replace("-", ""))
    covert = await _append(hub_state, commitment, datetime.now(UTC) + timedelta(days=1))
    for headers in (
        {"Authorization": "Bearer not-a-token"},
        account_bearer(hub_state, "official"),
        account_bearer(hub_state, "resident1"),
    ):
        proof = await api.get("/v1/audit/proof/inclusion", params={"leaf_index": covert}, headers=headers)
        assert proof.status_code == 404
        leaf = await api.get(f"/v1/audit/leaves/{covert}", headers=headers)
        assert leaf.status_code in (401, 404)
