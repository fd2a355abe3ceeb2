"""Liveness, readiness and the published keys."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from adapters.base import Adapter, AgencyError
from hub.deps import StateDep
from hub.state import HubState

router = APIRouter(tags=["operations"])
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about dependencies)."""
    return {"status": "ok"}


async def _database_check(state: HubState) -> str:
    """``ok``, ``error:timeout`` or ``error:unavailable``: a stable word, like the agencies' reasons.

    Through the pool, as requests go: a connection the server closed is replaced on checkout (hub.db), so
    this turns ``ok`` as soon as the database accepts connections again.
    """
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return "error:timeout"
    except Exception:  # readiness reports, never raises; the driver's message stays in the logs
        return "error:unavailable"
    return "ok"


async def _agency_check(adapter: Adapter) -> str:
    """``ok`` or ``error:<reason>`` (``circuit_open`` while the agency's breaker is cooling down)."""
    try:
        await adapter.check()
    except AgencyError as exc:
        return f"error:{exc.reason}"
    return "ok"


async def _checks(state: HubState) -> dict[str, str]:
    """Every dependency by name (``database``, ``agency:<name>``), checked at once.

    Concurrently, so that with everything down the answer still comes within one check's timeout and names
    each dependency that is down, rather than timing out behind the first one.
    """
    names = ["database", *(f"agency:{name}" for name in state.adapters)]
    results = await asyncio.gather(
        _database_check(state), *(_agency_check(adapter) for adapter in state.adapters.values())
    )
    return dict(zip(names, results, strict=True))


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """The database and every agency adapter answer; 503 names whichever does not.

    ``environment`` says which mode answers, so a deployment check can tell a production hub from a demo
    left running with its sandbox and demo accounts.
    """
    checks = await _checks(state)
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
    # The SD-JWT VC issuer key (hub/credentials), also at /.well-known/jwt-vc-issuer.
    credentials = state.credentials.jwks()
    return {"keys": [state.keys.token_key.public_jwk(), log_key, *documents, *credentials]}
