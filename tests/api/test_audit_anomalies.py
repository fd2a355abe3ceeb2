"""Auditors list the anomaly rules, tune them per request and see what they flag."""

from __future__ import annotations

import httpx
import pytest

from hub.state import HubState
from tests.conftest import Backend, account_bearer, bearer, lookup_body

pytestmark = pytest.mark.anyio


async def test_a_burst_of_denials_shows_up_as_an_anomaly(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    for _ in range(6):
        body = lookup_body(backend.residents[0]["resident_number"], view="with_address_history")
        assert (await api.post("/v1/lookups", json=body, headers=bearer(hub_state))).status_code == 403
    auditor = account_bearer(hub_state, "auditor")
    quiet = (await api.get("/v1/audit/anomalies", headers=auditor)).json()
    assert quiet["params"]["denial_burst"]["denials"] == 10
    tuned = await api.get("/v1/audit/anomalies", params={"denial_burst.denials": 5}, headers=auditor)
    assert tuned.status_code == 200, tuned.text
    flagged = [a for a in tuned.json()["anomalies"] if a["rule"] == "denial_burst"]
    assert any(a["actor_id"] == "test-bank" and a["count"] >= 5 for a in flagged)
    assert tuned.json()["events_examined"] >= 6


async def test_rules_are_listed_and_bad_parameters_refused(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    auditor = account_bearer(hub_state, "auditor")
    rules = (await api.get("/v1/audit/anomaly-rules", headers=auditor)).json()["rules"]
    assert {r["name"] for r in rules} == {"many_subjects", "off_hours", "denial_burst", "statutory_rate"}
    for params in ({"denial_burst.nope": 1}, {"nope.x": 1}, {"denial_burst.denials": "many"}):
        response = await api.get("/v1/audit/anomalies", params=params, headers=auditor)
        assert response.status_code == 400
    resident = account_bearer(hub_state, "resident0")
    assert (await api.get("/v1/audit/anomalies", headers=resident)).status_code == 403
