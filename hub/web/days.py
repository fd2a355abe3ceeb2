"""Calendar-day filters shared by the resident's history and the auditor console.

Both pages take whole Korean calendar days from date inputs and filter on the UTC instants that bound them,
and both offer the catalog's documents by title; one definition keeps the two pages agreeing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub import i18n
from hub.state import HubState


def calendar_day(value: str | None) -> date | None:
    """A day from a date input; None if blank or unusable.

    Korean midnight of the calendar's first day, and the day after its last, have no UTC equivalent, so those
    two days filter nothing rather than fail.
    """
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if date.min < day < date.max else None


def start_of(day: date) -> datetime:
    """Korean midnight at the start of ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=i18n.KST).astimezone(UTC)


def end_of(day: date) -> datetime:
    """Korean midnight at the end of ``day`` (exclusive bound), in UTC."""
    return start_of(day + timedelta(days=1))


def document_options(state: HubState, lang: str) -> list[tuple[str, str]]:
    """Every document type with its title in ``lang``, sorted by title (filter drop-downs)."""
    return sorted(((key, spec.titles[lang]) for key, spec in state.catalog.items()), key=lambda d: d[1])
