"""Open statistics as an API: daily lookup counts as CSV or JSON, and the signed manifest of each file.

Public, like the log's checkpoints: the files hold only counts, published ten days late with cells under ten
suppressed (``audit.stats``). The same bytes are the page's downloads (``/stats/lookups.csv`` and ``.json``);
both faces go through ``hub.stats``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from hub import stats
from hub.deps import StateDep

router = APIRouter(tags=["stats"])

StatsFormatQuery = Annotated[Literal["csv", "json"], Query(alias="format")]
First = Annotated[
    date | None, Query(alias="from", description="first day (Korean time), default: a week back")
]
Last = Annotated[date | None, Query(alias="to", description="last day, default: the newest published day")]


@router.get(
    "/v1/stats/lookups",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def lookups(
    state: StateDep, fmt: StatsFormatQuery = "json", first: First = None, last: Last = None
) -> StreamingResponse:
    """Lookups per day, organisation, document type, basis kind and outcome; a cell under 10 is null/"<10"."""
    return await stats.download(state, first, last, fmt)


@router.get("/v1/stats/lookups/manifest")
async def lookups_manifest(
    state: StateDep, fmt: StatsFormatQuery = "json", first: First = None, last: Last = None
) -> dict[str, Any]:
    """The file's manifest (rows, SHA-256, size, the log's tree size and root) and the hub's JWS over it."""
    return await stats.signed_manifest(state, first, last, fmt)
