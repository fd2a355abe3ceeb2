"""Processing deadlines in Korean business days: weekends and the KR public holidays (PyPI ``holidays``).

A deadline counted in business days (민원 처리기간) skips Saturdays, Sundays and public holidays, including
the lunar ones (Seollal, Chuseok) and substitute holidays, which is why a calendar library is used rather than
a fixed list.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=32)
def _kr_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("KR", years=year))


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _kr_holidays(day.year)


def add_business_days(start: date, days: int) -> date:
    """The date ``days`` business days after ``start`` (the day of receipt itself is not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when ``end`` is not after ``start``)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current):
            count += 1
    return count
