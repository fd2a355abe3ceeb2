"""Assertions on problem+json error responses and the audit event they name."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Backend, audit_rows


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"].startswith("urn:gongyu:request:")
    return body


def audited(backend: Backend, body: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in audit_rows(backend) if r["event_id"] == body["audit_event_id"])
