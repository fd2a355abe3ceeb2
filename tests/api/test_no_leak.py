"""Resident numbers never appear in the audit table, the server log or any error body."""

from __future__ import annotations

import io
import logging

import httpx
import pytest

from hub.logging import JsonFormatter
from hub.state import HubState
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio


def spellings(number: str) -> list[str]:
    digits = number.replace("-", "")
    return [digits, f"{digits[:6]}-{digits[6:]}", digits[6:]]


async def test_resident_numbers_leak_nowhere(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gongyu")
    logger.addHandler(handler)
    known = [r["resident_number"] for r in backend.residents[:3]]
    unknown = "010101-9000008"
    malformed = "901301-9123456"
    bodies: list[str] = []
    try:
        for number in [*known, unknown, malformed]:
            for kwargs in (
                {"statute": "KR-FTRA-5-2"},
                {"statute": "KR-RRA-29-2-2"},
                {"view": "with_address_history"},
                {"document_type": "nope"},
            ):
                response = await api.post(
                    "/v1/lookups", json=lookup_body(number, **kwargs), headers=bearer(hub_state)
                )
                if response.status_code != 200:
                    bodies.append(response.text)
            bad = lookup_body(number)
            bad["surplus"] = number
            bodies.append((await api.post("/v1/lookups", json=bad, headers=bearer(hub_state))).text)
            bodies.append((await api.post("/v1/lookups", json=lookup_body(number))).text)
            # Misplaced in a URL and a query string: refused, and scrubbed from the access log.
            bodies.append((await api.get(f"/v1/lookups/{number}", headers=bearer(hub_state))).text)
            bodies.append((await api.get(f"/v1/documents?rrn={number}")).text)
    finally:
        logger.removeHandler(handler)

    log_text = captured.getvalue()
    assert '"path": "/v1/lookups/[resident-number]"' in log_text, (
        "the misplaced number was scrubbed, not dropped"
    )
    table_text = "\n".join(repr(row) for row in audit_rows(backend))
    assert len(bodies) >= 25
    for number in [*known, unknown, malformed]:
        for needle in spellings(number):
            assert needle not in log_text, f"resident number in server log: {needle[:2]}..."
            assert needle not in table_text, "resident number in the audit table"
            for body in bodies:
                assert needle not in body, "resident number in an error body"
