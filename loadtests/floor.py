"""The floor: the least an audited lookup can do, to measure the hub against (issue 17).

One SELECT of the resident row from the agency's registry, one durable INSERT of an audit row (its own
transaction, committed before the answer), one Ed25519 signature over the response; FastAPI on uvloop and
httptools, asyncpg with no ORM, no token check, no consent or basis check, no middleware. Whatever the hub
spends beyond this is the price of its guarantees and of its layers; the benchmark reports hub/floor.

Run by ``loadtests.bench_wrk`` as ``uvicorn loadtests.floor:app --workers 2``, configured by environment:
``GONGYU_FLOOR_AGENCY_DSN`` (the sandbox MOIS registry) and ``GONGYU_FLOOR_AUDIT_DSN`` (where the audit rows
go; the table is created on start-up).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import Response

AUDIT_TABLE = """
CREATE TABLE IF NOT EXISTS floor_audit (
    seq bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor_id text NOT NULL,
    document_type text NOT NULL,
    subject_hash bytea NOT NULL,
    outcome text NOT NULL
)
"""
SELECT_RESIDENT = """
SELECT r.name_ko, r.birth_date, r.sex, r.moved_in_on, h.address, h.postal_code
FROM residents r JOIN households h ON h.household_id = r.household_id
WHERE r.resident_number = $1
"""
INSERT_AUDIT = """
INSERT INTO floor_audit (event_id, occurred_at, actor_id, document_type, subject_hash, outcome)
VALUES ($1, $2, $3, $4, sha256($5::bytea), $6)
"""
POOL_SIZE = 24  # the hub's per-worker pool size (hub.db), so neither side waits on connections more

_KEY = Ed25519PrivateKey.generate()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    agency = await asyncpg.create_pool(os.environ["GONGYU_FLOOR_AGENCY_DSN"], min_size=4, max_size=POOL_SIZE)
    audit = await asyncpg.create_pool(os.environ["GONGYU_FLOOR_AUDIT_DSN"], min_size=4, max_size=POOL_SIZE)
    async with audit.acquire() as conn:
        # Both workers start at once; the lock keeps their CREATE TABLEs from colliding in the catalog.
        await conn.execute("SELECT pg_advisory_lock(7117)")
        try:
            await conn.execute(AUDIT_TABLE)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7117)")
    app.state.agency, app.state.audit = agency, audit
    try:
        yield
    finally:
        await agency.close()
        await audit.close()


app = FastAPI(lifespan=_lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/lookup")
async def lookup(request: Request) -> Response:
    body = orjson.loads(await request.body())
    number = str(body["subject"]["resident_number"]).replace("-", "")
    row = await request.app.state.agency.fetchrow(SELECT_RESIDENT, number)
    if row is None:
        return Response(status_code=404)
    event_id = uuid.uuid4()
    now = datetime.now(UTC)
    # A pool connection outside a transaction block autocommits: the INSERT is durable when execute returns.
    await request.app.state.audit.execute(
        INSERT_AUDIT, event_id, now, "floor", body["document_type"], number.encode(), "allowed"
    )
    fields: dict[str, Any] = {
        "name": row["name_ko"],
        "birth_date": row["birth_date"].isoformat(),
        "sex": row["sex"],
        "address": row["address"],
        "postal_code": row["postal_code"],
        "moved_in_on": row["moved_in_on"].isoformat(),
    }
    payload = orjson.dumps({"fields": fields, "audit": {"event_id": str(event_id)}, "issued_at": now})
    signature = base64.urlsafe_b64encode(_KEY.sign(payload)).rstrip(b"=")
    return Response(payload, media_type="application/json", headers={"x-signature": signature.decode()})
