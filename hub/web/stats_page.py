"""``/stats``: the open statistics for anyone, with a chart and its table for each view, and the downloads.

The numbers are ``audit.stats``' (``state.stats``): lookups per day, organisation, document type, basis kind
and outcome, ten days late, cells under ten suppressed. Every chart draws sums of the *published* cells only
and its table says how many suppressed cells each sum leaves out, so no bar gives a hidden cell away (why:
``audit.stats``' module doc). The charts are SVG drawn here, on the server: no script and no chart library,
and the strict Content-Security-Policy (no inline style) holds because bar widths are SVG attributes. Each
chart has a text title for screen readers and the same numbers in a table beside it.

The files are served here too (``/stats/lookups.csv``, ``.json`` and their signed manifest) through
``hub.stats``, which the API's ``/v1/stats/...`` routes share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from audit.stats import DELAY, SUPPRESS_BELOW, Share
from hub import stats
from hub.deps import StateDep
from hub.state import HubState
from hub.web import session
from hub.web.render import language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)

DOMAINS: Final = ("stats",)
PAGE_DAYS: Final = 28
# The SVG's own coordinate system; it scales to the column's width.
CHART_WIDTH: Final = 640
LABEL_WIDTH: Final = 230
ROW_HEIGHT: Final = 22
BAR_SPACE: Final = CHART_WIDTH - LABEL_WIDTH - 80  # room for the number after the longest bar

First = Annotated[date | None, Query(alias="from")]
Last = Annotated[date | None, Query(alias="to")]


@dataclass(frozen=True)
class Bar:
    label: str
    lookups: int
    suppressed_cells: int
    y: int
    width: int


@dataclass(frozen=True)
class Chart:
    key: str  # also the element ids' stem
    title: str
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    text_x: int = LABEL_WIDTH - 8


def _chart(key: str, title: str, shares: list[Share], label: Any) -> Chart:
    widest = max((s.lookups for s in shares), default=0) or 1
    bars = [
        Bar(
            label(s.value),
            s.lookups,
            s.suppressed_cells,
            i * ROW_HEIGHT,
            round(BAR_SPACE * s.lookups / widest),
        )
        for i, s in enumerate(shares)
    ]
    return Chart(key, title, bars, max(1, len(bars)) * ROW_HEIGHT)


def _labels(state: HubState, t: Strings, lang: str) -> dict[str, Any]:
    def document(value: str) -> str:
        if value in ("", "other"):
            return t["stats.document." + (value or "none")]
        spec = state.catalog.get(value)
        return spec.titles.get(lang, value) if spec is not None else value

    return {
        "day": lambda value: value,
        "outcome": lambda value: t.get("stats.outcome." + value, value),
        "basis_kind": lambda value: t.get("stats.basis." + value, value),
        "document_type": document,
        "organisation": lambda value: value or t["stats.organisation.none"],
    }


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request, state: StateDep, first: First = None, last: Last = None
) -> HTMLResponse:
    lang = language(request)
    t = Strings(lang, ("pages", "common", *DOMAINS))
    start, end = await stats.days(state, first, last, default_days=PAGE_DAYS)
    overview = await state.stats.overview(start, end)
    label = _labels(state, t, lang)
    charts = [
        _chart("day", t["stats.chart.day"], overview.by_day, label["day"]),
        _chart("outcome", t["stats.chart.outcome"], overview.by_outcome, label["outcome"]),
        _chart("basis", t["stats.chart.basis"], overview.by_basis_kind, label["basis_kind"]),
        _chart("document", t["stats.chart.document"], overview.by_document_type, label["document_type"]),
        _chart(
            "organisation", t["stats.chart.organisation"], overview.by_organisation, label["organisation"]
        ),
    ]
    query = f"from={start.isoformat()}&to={end.isoformat()}"
    return render(
        request,
        "stats.html",
        domains=DOMAINS,
        account=session.current(request, state),
        first=start,
        last=end,
        published=overview.first is not None and any(b.lookups or b.suppressed_cells for b in charts[0].bars),
        organisations=overview.organisations,
        charts=charts,
        query=query,
        delay_days=DELAY.days,
        threshold=SUPPRESS_BELOW,
        chart_width=CHART_WIDTH,
    )


# Before ``lookups.{fmt}``, which would otherwise take "manifest.json" for a format.
@router.get("/stats/lookups.manifest.json")
async def stats_manifest(
    state: StateDep,
    fmt: Annotated[Literal["csv", "json"], Query(alias="format")] = "csv",
    first: First = None,
    last: Last = None,
) -> dict[str, Any]:
    return await stats.signed_manifest(state, first, last, fmt)


@router.get("/stats/lookups.{fmt}", response_class=StreamingResponse)
async def stats_file(
    fmt: Literal["csv", "json"], state: StateDep, first: First = None, last: Last = None
) -> StreamingResponse:
    return await stats.download(state, first, last, fmt)
