"""The hub's side of an auditor's reads, shared by the API and the auditor console: exports and queries.

The export's orchestration is ``audit.exports.ExportService``; this module only wires it to the hub (the
manifest is signed with the hub's token key, the event goes into the request's unit of work) and gives its
errors the hub's problem slugs. It sits beside ``hub/api`` and ``hub/web`` rather than in either, so the two
faces share it without importing each other: an export asked for with a bearer token and one asked for
from the console are pinned, audited, streamed and signed by the very same code.

Browsing (a page of events, an anomaly report) is recorded by :func:`record_query`: one ``audit_query`` event
per query in the request's transaction, written before anything is read, so auditors are on the record as
exports already made them; it fails closed with the same 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditUnavailable
from audit.export import Exporter, Format, NoCheckpoint
from audit.filters import EventFilter
from audit.proofs import BadRange
from audit.queries import View, query_event
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.resident_number import scrub
from hub.state import HubState
from hub.uow import fail_closed


def _problem(error: NoCheckpoint | BadRange) -> Problem:
    if isinstance(error, NoCheckpoint):
        return Problem(503, "no-checkpoint", headers={"Retry-After": "1"})
    return Problem(400, "bad-range", constraint=str(error))


async def stream_export(
    state: HubState,
    session: AsyncSession,
    filters: EventFilter,
    fmt: Format,
    tree_size: int | None,
    exporter: Exporter,
) -> StreamingResponse:
    """The export's body as a streamed download; its audit event is written in ``session``.

    ``session`` is the request's unit of work (``hub.deps.SessionDep``), which commits after the route
    returns and before the response starts: the body is only sent once the export is on record. A failed
    append rolls the transaction back here and answers 503, so a page that renders the problem cannot
    commit anything half-done.
    """
    try:
        body = await state.exports.open(session, filters, fmt, tree_size, exporter)
    except (NoCheckpoint, BadRange) as error:
        raise _problem(error) from None
    except AuditUnavailable:
        raise await fail_closed(session) from None
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        body.chunks,
        media_type=media,
        headers={
            "X-Gongyu-Tree-Size": str(body.tree_size),
            "Content-Disposition": f'attachment; filename="gongyu-audit-{body.tree_size}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


async def signed_manifest(
    state: HubState, filters: EventFilter, fmt: Format, tree_size: int | None
) -> dict[str, Any]:
    """``{"manifest": …, "jws": …}`` of the export with these parameters (not an access: nothing logged)."""
    try:
        signed = await state.exports.signed_manifest(filters, fmt, tree_size)
    except (NoCheckpoint, BadRange) as error:
        raise _problem(error) from None
    return signed.as_dict()


async def record_query(
    state: HubState,
    session: AsyncSession,
    view: View,
    described: Mapping[str, object],
    auditor: AccountPrincipal,
    request_id: str | None,
) -> None:
    """Put one auditor query on the record in ``session`` (the request's unit of work), before any read.

    Raises the 503 ``audit-unavailable`` problem (the transaction rolled back) if the event cannot be written:
    the caller shows nothing then. Text the auditor typed into a filter (an organisation, say) has anything
    shaped like a resident number replaced, because the log cannot forget what it integrates.
    """
    cleaned = {key: scrub(value) if isinstance(value, str) else value for key, value in described.items()}
    event = query_event(view, cleaned, auditor.account_id, auditor.org, request_id)
    await state.trail.record(session, event)
