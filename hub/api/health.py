"""Liveness, readiness and the published keys."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from adapters.base import AgencyError
from hub.deps import StateDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about dependencies)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """The database and every agency adapter answer; 503 names whichever does not.

    ``environment`` says which mode answers, so a deployment check can tell a production hub from a demo
    left running with its sandbox and demo accounts.
    """
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2), state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, never raises
        checks["database"] = f"error:{type(exc).__name__}"
    for name, adapter in state.adapters.items():
        try:
            await adapter.check()
            checks[f"agency:{name}"] = "ok"
        except AgencyError as exc:
            checks[f"agency:{name}"] = f"error:{exc.reason}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {
            "status": "ok" if ready else "unavailable",
            "environment": state.settings.environment,
            "checks": checks,
            # Verifications by number that disclosed nothing and so wrote no audit row (this process).
            "unaudited_verifications": dict(state.issuance.verify_counts),
        },
        status_code=200 if ready else 503,
    )


@router.get("/.well-known/gongyu/keys")
async def published_keys(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    """JWKS of the hub's public keys: tokens, the log, e-document keys (with validity) and the issuance CA."""
    log_key = {
        **state.keys.log_key.public_jwk(),
        "kid": state.audit_reader.signer.verifier_key.split("+")[1],
        "use": "gongyu-log-checkpoint",
        "gongyu_verifier_key": state.audit_reader.signer.verifier_key,
    }
    # The issuance CA is created on first use (key generation): off the event loop.
    documents = await asyncio.to_thread(state.issuance.jwks)
    return {"keys": [state.keys.token_key.public_jwk(), log_key, *documents]}
