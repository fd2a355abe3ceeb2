"""The hub's side of the open statistics, shared by the API (``/v1/stats/...``) and the page (``/stats``).

The numbers, their delay and suppression, the files and their manifest are ``audit.stats.LookupStats``
(``state.stats``); this module only turns a query's days into a range (a bad one is the 400 problem
``stats-range``) and answers a file as a download. It sits beside ``hub/api`` and ``hub/web`` like
``hub/audit_export.py``, so the two faces serve the same bytes and manifest without importing each other.

Nothing here is an access to anyone's record: the files hold counts only, so reading them is not audited.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any, Final

from fastapi.responses import StreamingResponse

from audit.stats import DEFAULT_DAYS, LookupStats, NotPublished, StatsFormat
from hub.errors import Problem
from hub.state import HubState

MEDIA: Final = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
# Published days never change (a day is counted once it is over), so a shared cache may keep a file a while.
CACHE: Final = "public, max-age=300"
log = logging.getLogger("gongyu.stats")


async def days(
    state: HubState, first: date | None, last: date | None, default_days: int = DEFAULT_DAYS
) -> tuple[date, date]:
    """The range asked for (by default the newest ``default_days`` published days); 400 ``stats-range``
    naming what is allowed if it cannot be published."""
    try:
        return await state.stats.resolve(first, last, default_days)
    except NotPublished as error:
        raise Problem(400, "stats-range", constraint=str(error)) from None


def filename(first: date, last: date, fmt: StatsFormat) -> str:
    return f"gongyu-lookups-{first.isoformat()}-{last.isoformat()}.{fmt}"


async def download(
    state: HubState, first: date | None, last: date | None, fmt: StatsFormat
) -> StreamingResponse:
    """The file for the range, streamed one day at a time; its manifest is :func:`signed_manifest`."""
    start, end = await days(state, first, last)
    return StreamingResponse(
        state.stats.body(start, end, fmt),
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{filename(start, end, fmt)}"',
            "Cache-Control": CACHE,
        },
    )


async def signed_manifest(
    state: HubState, first: date | None, last: date | None, fmt: StatsFormat
) -> dict[str, Any]:
    """``{"manifest": …, "jws": …}`` of the file with these parameters, as the audit export answers it."""
    start, end = await days(state, first, last)
    return (await state.stats.signed_manifest(start, end, fmt)).as_dict()


async def refresh_loop(stats: LookupStats, interval: float, stop: asyncio.Event) -> None:
    """Count newly closed days now and then every ``interval`` seconds until ``stop`` (the app's lifespan).

    A failed round is logged and tried again next time: the statistics lag, nothing else is affected.
    """
    while not stop.is_set():
        try:
            counted = await stats.refresh()
            if counted.days:
                log.info("stats counted", extra={"days": len(counted.days), "waiting": str(counted.waiting)})
        except Exception:  # the next round retries; the page shows the days counted so far
            log.exception("stats refresh failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
