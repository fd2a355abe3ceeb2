"""The hub's side of an audit export, shared by the API (``/v1/audit/export``) and the auditor console.

The orchestration itself is ``audit.exports.ExportService``; this module only wires it to the hub (the
manifest is signed with the hub's token key, the event goes into the request's unit of work) and gives its
errors the hub's problem slugs. It sits beside ``hub/api`` and ``hub/web`` rather than in either, so the two
faces share it without importing each other: an export asked for with a bearer token and one asked for
from the console are pinned, audited, streamed and signed by the very same code.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditUnavailable
from audit.export import Exporter, Format, NoCheckpoint
from audit.filters import EventFilter
from audit.proofs import BadRange
from hub.errors import Problem
from hub.state import HubState


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
        await session.rollback()
        raise Problem(503, "audit-unavailable", headers={"Retry-After": "5"}) from None
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
