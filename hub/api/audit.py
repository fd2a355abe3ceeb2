"""The audit log's public face: checkpoints, proofs, leaves, the resident's history.

Checkpoints, the verifier key and proofs are public: anyone may check the log. Leaves carry (committed, never
clear) subject data, so only the resident they concern or an auditor may read one.

An entry whose ``visible_from`` lies in the future (delayed disclosure) is in the tree but withheld from
everyone except auditors: its leaf and its inclusion proof are answered 404 ``leaf-not-found``, as for an
index with nothing to read, so paging through indices cannot reveal what the resident's history still hides.
Consistency proofs name tree sizes, not entries, and stay public.

Auditors are on the record when they read, not only when they export: each anomaly query writes one
``audit_query`` event with its filter (``hub.audit_export.record_query``), failing closed with 503.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import AfterValidator

from audit import anomalies
from audit.events import iso
from audit.export import Exporter
from audit.filters import EventFilter
from audit.service import BadRange, Withheld
from hub.api.hot_paths import plain_int, plain_ints, single_keys
from hub.audit_export import record_query, signed_manifest, stream_export
from hub.auth.tokens import AccountPrincipal
from hub.deps import AuditorDep, ResidentDep, SessionDep, StateDep, current_account, current_resident
from hub.errors import Problem
from hub.state import HubState

router = APIRouter(tags=["audit"])


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/v1/audit/checkpoint", response_class=PlainTextResponse)
async def checkpoint(state: StateDep) -> PlainTextResponse:
    """The signed checkpoint (C2SP signed note) with the witnesses' cosignature lines appended.

    With witnesses configured, the newest checkpoint a quorum of them cosigned (hub/witnessing.py); verify it
    with the log's key and each witness's vkey (``/v1/audit/witnesses``).
    """
    served = await state.witnessing.served_checkpoint()
    if served is None:
        raise Problem(503, "no-checkpoint", headers={"Retry-After": "1"})
    return PlainTextResponse(served[1], headers={"Cache-Control": "no-cache"})


@router.get("/v1/audit/witnesses")
async def witnesses(state: StateDep) -> dict[str, Any]:
    """The witnesses whose cosignatures a checkpoint carries, their vkeys and the quorum verifiers require."""
    return {
        "witnesses": [
            {"name": t.cosigner.name, "url": t.url, "vkey": t.vkey} for t in state.witnessing.targets
        ],
        "quorum": state.witnessing.quorum,
    }


@router.get("/v1/audit/verifier-key", response_class=PlainTextResponse)
async def verifier_key(state: StateDep) -> PlainTextResponse:
    """The log's public key in C2SP note verifier-key format: ``<name>+<hex key id>+<base64 key>``."""
    return PlainTextResponse(state.audit_reader.signer.verifier_key + "\n")


def _auditor_or_none(request: Request, state: HubState) -> AccountPrincipal | None:
    """The auditor presenting a bearer token on a public route, or None (anyone else, or a bad token).

    Public routes stay public: a missing or invalid token is not an error here, it only means the caller gets
    what anyone gets.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        account = state.tokens.verify_account(token.strip())
    except Problem:
        return None
    return account if account.role == "auditor" else None


INCLUSION_PROOF_PATH: Final = "/v1/audit/proof/inclusion"


@router.get(INCLUSION_PROOF_PATH)
async def inclusion_proof(
    request: Request, state: StateDep, leaf_index: int, tree_size: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    """RFC 9162 §2.1.3 inclusion proof; ``tree_size`` defaults to the latest checkpoint.

    404 for an entry whose disclosure is still delayed, unless an auditor asks (bearer token).
    """
    visible_at = None if _auditor_or_none(request, state) else datetime.now(UTC)
    try:
        size, hashes = await state.audit_reader.inclusion_proof(leaf_index, tree_size, visible_at=visible_at)
    except BadRange as exc:
        raise Problem(400, "bad-range", constraint=str(exc)) from None
    except Withheld:
        raise Problem(404, "leaf-not-found") from None
    return {"leaf_index": leaf_index, "tree_size": size, "hashes": _b64(hashes)}


async def serve_inclusion_proof(request: Request, state: HubState) -> Response | None:
    """The public inclusion proof for ``hub.api.hot_paths`` (the benchmark's and every verifier's hot read);
    a query other than plain non-negative ``leaf_index`` and ``tree_size`` goes to the route's validation."""
    query = plain_ints(request.query_params, required=("leaf_index",), optional=("tree_size",))
    if query is None:
        return None
    return JSONResponse(await inclusion_proof(request, state, query["leaf_index"], query.get("tree_size")))


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
    """The leaf bytes (RFC 8785 JSON) for the resident it concerns or an auditor; 404 for anyone else.

    The resident gets 404 too while the entry's disclosure is delayed (``visible_from`` in the future).
    """
    account: AccountPrincipal = await current_account(request, state)
    found = await state.audit_reader.leaf(leaf_index)
    allowed = found is not None and (
        account.role == "auditor"
        or (
            account.role == "resident"
            and account.subject_commitment == found.subject_commitment
            and not found.withheld_at(datetime.now(UTC))
        )
    )
    if not allowed or found is None:
        raise Problem(404, "leaf-not-found")
    return Response(found.leaf_bytes, media_type="application/json")


def _as_utc(moment: datetime | None) -> datetime | None:
    """Query times are UTC: a time without an offset is read as UTC, one with an offset is converted."""
    if moment is None or moment.tzinfo is None:
        return None if moment is None else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before the first representable instant
        raise ValueError("time out of range once converted to UTC") from None


ExportFormat = Annotated[Literal["csv", "jsonl"], Query(alias="format")]
Since = Annotated[datetime | None, Query(alias="from"), AfterValidator(_as_utc)]
Until = Annotated[datetime | None, Query(alias="to"), AfterValidator(_as_utc)]
Text64 = Annotated[str | None, Query(max_length=64)]


@router.get("/v1/audit/export", responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
async def export_events(
    auditor: AuditorDep,
    request: Request,
    state: StateDep,
    session: SessionDep,
    fmt: ExportFormat = "jsonl",
    since: Since = None,
    until: Until = None,
    org: Annotated[str | None, Query(max_length=200)] = None,
    document_type: Text64 = None,
    kind: Text64 = None,
    tree_size: int | None = None,
) -> StreamingResponse:
    """Stream the integrated events matching the filter, pinned to a tree size (default: latest checkpoint).

    The export is itself audited, in this request's transaction, before the first byte is sent. Fetch
    ``/v1/audit/export/manifest`` with the same parameters (and the ``X-Gongyu-Tree-Size`` this response
    names) for the signed manifest.
    """
    filters = EventFilter(since=since, until=until, org=org, document_type=document_type, kind=kind)
    exporter = Exporter(auditor.account_id, auditor.org, request.state.request_id)
    return await stream_export(state, session, filters, fmt, tree_size, exporter)


@router.get("/v1/audit/export/manifest")
async def export_manifest(
    auditor: AuditorDep,
    state: StateDep,
    fmt: ExportFormat = "jsonl",
    since: Since = None,
    until: Until = None,
    org: Annotated[str | None, Query(max_length=200)] = None,
    document_type: Text64 = None,
    kind: Text64 = None,
    tree_size: int | None = None,
) -> dict[str, Any]:
    """The export's manifest (filter, rows, body SHA-256, tree size and root) and the hub's JWS over it."""
    filters = EventFilter(since=since, until=until, org=org, document_type=document_type, kind=kind)
    return await signed_manifest(state, filters, fmt, tree_size)


@router.get("/v1/audit/anomaly-rules")
async def anomaly_rules(auditor: AuditorDep) -> dict[str, Any]:
    """The anomaly rules with their default parameters; override any as ``<rule>.<param>=`` on the query."""
    return {
        "rules": [
            {"name": r.name, "description": " ".join(r.description.split()), "params": r.params}
            for r in anomalies.RULES.values()
        ]
    }


@router.get("/v1/audit/anomalies")
async def find_anomalies(
    auditor: AuditorDep,
    request: Request,
    state: StateDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Lookups in the range (default: the last 24 hours) that the rules flag.

    The query is on the record (one ``audit_query`` event with its range and rule overrides, written in this
    request's transaction before the report is computed); 503 and no report if it cannot be written.
    """
    until = until or datetime.now(UTC)
    try:
        since = since or until - timedelta(days=1)
    except OverflowError:  # a ``to`` on the first day there is
        raise Problem(400, "bad-range", constraint="from < to, at most 31 days apart") from None
    if not since < until or until - since > timedelta(days=31):
        raise Problem(400, "bad-range", constraint="from < to, at most 31 days apart")
    overrides: dict[str, dict[str, float]] = {}
    for key, value in request.query_params.items():
        rule, dot, param = key.partition(".")
        if not dot:
            continue
        if rule not in anomalies.RULES or param not in anomalies.RULES[rule].params:
            raise Problem(400, "bad-range", constraint=f"unknown rule parameter '{key[:64]}'")
        try:
            overrides.setdefault(rule, {})[param] = float(value)
        except ValueError:
            raise Problem(400, "bad-range", constraint=f"'{key[:64]}' must be a number") from None
    described = {"since": iso(since), "until": iso(until), "overrides": overrides}
    await record_query(state, session, "anomalies", described, auditor, request.state.request_id)
    report = await anomalies.find(state.sessions, since, until, overrides)
    return asdict(report)


ACCESS_LOG_PATH: Final = "/v1/me/access-log"


@router.get(ACCESS_LOG_PATH)
async def my_access_log(
    resident: ResidentDep,
    state: StateDep,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    since: Since = None,
    until: Until = None,
    document_type: Annotated[str | None, Query(max_length=64)] = None,
    org: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(pattern="^(ok|denied|not_found|agency_error|invalid)$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Every access to the signed-in resident's records, newest first, each with its inclusion proof."""
    assert resident.subject_commitment is not None
    filters = EventFilter(since=since, until=until, document_type=document_type, org=org, outcome=outcome)
    try:
        page = await state.audit_reader.history(
            resident.subject_commitment, datetime.now(UTC), filters, cursor, limit
        )
    except ValueError:
        raise Problem(400, "invalid-cursor") from None
    checkpoint_note = page.checkpoint
    if checkpoint_note is not None:
        checkpoint_note = await state.witnessing.cosigned_note(page.tree_size, checkpoint_note)
    return {
        "entries": page.entries,
        "next_cursor": page.next_cursor,
        "checkpoint": checkpoint_note,
        "tree_size": page.tree_size,
        "verifier_key": state.audit_reader.signer.verifier_key,
        "witnesses": state.witnessing.vkeys,  # require witness_quorum valid cosignatures on the checkpoint
        "witness_quorum": state.witnessing.quorum,
    }


async def serve_my_access_log(request: Request, state: HubState) -> Response | None:
    """A resident's newest page (``limit`` and ``cursor`` only) for ``hub.api.hot_paths``: the portal's and
    every resident's first read; filters, and anything unusual, go to the route's validation."""
    query = request.query_params
    if single_keys(query, ("limit", "cursor")) is None:
        return None
    limit = plain_int(query.get("limit", "20"))
    cursor = query.get("cursor")
    if limit is None or not 1 <= limit <= 100 or (cursor is not None and not 0 < len(cursor) <= 64):
        return None
    resident = await current_resident(await current_account(request, state))
    return JSONResponse(await my_access_log(resident, state, cursor=cursor, limit=limit))
