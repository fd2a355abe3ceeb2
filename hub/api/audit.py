"""The audit log's public face: checkpoints, proofs, leaves, the resident's history.

Checkpoints, the verifier key and proofs are public: anyone may check the log. Leaves carry (committed, never
clear) subject data, so only the resident they concern or an auditor may read one.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from audit.history import HistoryFilter
from audit.service import BadRange
from hub.auth.tokens import AccountPrincipal
from hub.deps import ResidentDep, StateDep, current_account
from hub.errors import Problem

router = APIRouter(tags=["audit"])


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/v1/audit/checkpoint", response_class=PlainTextResponse)
async def checkpoint(state: StateDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP signed note)."""
    latest = await state.audit_reader.latest_checkpoint()
    if latest is None:
        raise Problem(503, "no-checkpoint", headers={"Retry-After": "1"})
    return PlainTextResponse(latest.note, headers={"Cache-Control": "no-cache"})


@router.get("/v1/audit/verifier-key", response_class=PlainTextResponse)
async def verifier_key(state: StateDep) -> PlainTextResponse:
    """The log's public key in C2SP note verifier-key format: ``<name>+<hex key id>+<base64 key>``."""
    return PlainTextResponse(state.audit_reader.signer.verifier_key + "\n")


@router.get("/v1/audit/proof/inclusion")
async def inclusion_proof(
    state: StateDep, leaf_index: int, tree_size: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    """RFC 9162 §2.1.3 inclusion proof; ``tree_size`` defaults to the latest checkpoint."""
    try:
        size, hashes = await state.audit_reader.inclusion_proof(leaf_index, tree_size)
    except BadRange as exc:
        raise Problem(400, "bad-range", constraint=str(exc)) from None
    return {"leaf_index": leaf_index, "tree_size": size, "hashes": _b64(hashes)}


@router.get("/v1/audit/proof/consistency")
async def consistency_proof(
    state: StateDep, first: int, second: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    """RFC 9162 §2.1.4 consistency proof between two tree sizes (``second`` defaults to the latest)."""
    try:
        size, hashes = await state.audit_reader.consistency_proof(first, second)
    except BadRange as exc:
        raise Problem(400, "bad-range", constraint=str(exc)) from None
    return {"first": first, "second": size, "hashes": _b64(hashes)}


@router.get("/v1/audit/leaves/{leaf_index}")
async def leaf(leaf_index: int, request: Request, state: StateDep) -> Response:
    """The leaf bytes (RFC 8785 JSON) for the resident it concerns or an auditor; 404 for anyone else."""
    account: AccountPrincipal = current_account(request, state)
    found = await state.audit_reader.leaf(leaf_index)
    allowed = found is not None and (
        account.role == "auditor"
        or (account.role == "resident" and account.subject_commitment == found.subject_commitment)
    )
    if not allowed or found is None:
        raise Problem(404, "leaf-not-found")
    return Response(found.leaf_bytes, media_type="application/json")


@router.get("/v1/me/access-log")
async def my_access_log(
    resident: ResidentDep,
    state: StateDep,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    document_type: Annotated[str | None, Query(max_length=64)] = None,
    org: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(pattern="^(ok|denied|not_found|agency_error|invalid)$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Every access to the signed-in resident's records, newest first, each with its inclusion proof."""
    assert resident.subject_commitment is not None
    filters = HistoryFilter(since=since, until=until, document_type=document_type, org=org, outcome=outcome)
    try:
        page = await state.audit_reader.history(
            resident.subject_commitment, datetime.now(UTC), filters, cursor, limit
        )
    except ValueError:
        raise Problem(400, "invalid-cursor") from None
    return {
        "entries": page.entries,
        "next_cursor": page.next_cursor,
        "checkpoint": page.checkpoint,
        "tree_size": page.tree_size,
        "verifier_key": state.audit_reader.signer.verifier_key,
    }
