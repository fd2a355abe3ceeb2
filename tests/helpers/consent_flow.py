"""A bank's consent request, approved by the resident through the API, and the lookup that uses it."""

from __future__ import annotations

from typing import Any

import httpx

from hub.state import HubState
from tests.conftest import account_bearer, bearer

CALLBACK = "https://bank.test/callback"
ABSTRACT = {"document_type": "resident_registration_abstract", "view": "basic"}


async def create_request(api: httpx.AsyncClient, state: HubState, **overrides: Any) -> dict[str, Any]:
    body = {
        "documents": [ABSTRACT],
        "purpose": {"code": "loan-screening", "text": "주택담보대출 심사"},
        "mode": "one_time",
        "redirect_uri": CALLBACK,
        "state": "xyz-123",
        **overrides,
    }
    response = await api.post("/v1/consent-requests", json=body, headers=bearer(state))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def granted(
    api: httpx.AsyncClient, state: HubState, resident: str = "resident0", **overrides: Any
) -> str:
    request = await create_request(api, state, **overrides)
    decision = await api.post(
        f"/v1/me/consent-requests/{request['request_id']}/approve",
        json={},
        headers=account_bearer(state, resident),
    )
    assert decision.status_code == 200, decision.text
    return str(decision.json()["consent"]["consent_id"])


def consent_lookup(consent_id: str, **overrides: Any) -> dict[str, Any]:
    return {**ABSTRACT, "purpose": "loan-screening", "basis": {"consent_id": consent_id}, **overrides}
