"""CSV exports neutralise cells a spreadsheet would run as formulas; the JSONL export stays byte-exact.

Purpose texts, reasons and organisation names come from clients, so an export opened in a spreadsheet must
not evaluate ``=HYPERLINK(...)`` written by one of them. The JSONL body is what leaf hashes are recomputed
from, so it must carry every value exactly as logged.
"""

from __future__ import annotations

import csv
import io
import json
import secrets

import httpx
import pytest

from audit import AuditEvent
from audit.export import csv_cell
from audit.merkle import leaf_hash
from hub.state import HubState
from tests.conftest import account_bearer

pytestmark = pytest.mark.anyio

HOSTILE = {
    "actor_org": "@SUM(A1:A9)",
    "purpose_code": "-2+3",
    "purpose_text": '=HYPERLINK("https://evil.test","click")',
    "reason": "+cmd|' /C calc'!A0",
    "basis": "\tstatute",
    "request_id": "\rreq",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (7, 7),
    ],
)
def test_a_cell_that_would_start_a_formula_gets_a_leading_quote(value: object, expected: object) -> None:
    assert csv_cell(value) == expected


async def test_csv_export_neutralises_formulas_and_jsonl_keeps_the_exact_values(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    kind = f"csvprobe_{secrets.token_hex(4)}"
    await hub_state.audit.append(
        AuditEvent(
            kind=kind,
            actor_kind="client",
            actor_id="test-bank",
            outcome="ok",
            actor_org=HOSTILE["actor_org"],
            purpose_code=HOSTILE["purpose_code"],
            purpose_text=HOSTILE["purpose_text"],
            reason=HOSTILE["reason"],
            basis=HOSTILE["basis"],
            request_id=HOSTILE["request_id"],
        )
    )
    await hub_state.integrator.integrate_once()
    auditor = account_bearer(hub_state, "auditor")

    as_csv = await api.get("/v1/audit/export", params={"format": "csv", "kind": kind}, headers=auditor)
    assert as_csv.status_code == 200, as_csv.text
    (row,) = list(csv.DictReader(io.StringIO(as_csv.text)))
    for column, value in HOSTILE.items():
        assert row[column] == "'" + value, column
    assert row["kind"] == kind and row["actor_id"] == "test-bank"

    as_jsonl = await api.get("/v1/audit/export", params={"format": "jsonl", "kind": kind}, headers=auditor)
    assert as_jsonl.status_code == 200
    (record,) = [json.loads(line) for line in as_jsonl.text.splitlines()]
    for column, value in HOSTILE.items():
        assert record[column] == value, column
    # The JSONL record still hashes to the stored leaf: verification keeps working from JSONL.
    index = record.pop("leaf_index")
    stored = await hub_state.audit_reader.leaf(index)
    assert stored is not None
    exact = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert leaf_hash(exact) == leaf_hash(stored.leaf_bytes)
