"""Business-day deadlines across Korean public holidays, and the lifecycle's table of arrows."""

from __future__ import annotations

from datetime import date

import pytest

from hub.applications import lifecycle
from hub.applications.business_days import add_business_days, business_days_between, is_business_day


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Wednesday before Chuseok 2026 (24-26 Sep, Thu-Sat): Thu/Fri holidays, then the weekend.
        (date(2026, 9, 23), 1, date(2026, 9, 28)),
        (date(2026, 9, 23), 3, date(2026, 9, 30)),
        # Friday 2 Oct: Sat 3 Oct National Foundation Day has its substitute on Mon 5 Oct; Hangul Day Fri 9.
        (date(2026, 10, 2), 1, date(2026, 10, 6)),
        (date(2026, 10, 2), 4, date(2026, 10, 12)),
        # Seollal 2026 (16-18 Feb, Mon-Wed): Friday 13 Feb + 1 business day is Thursday 19 Feb.
        (date(2026, 2, 13), 1, date(2026, 2, 19)),
        # An ordinary week: Monday + 2 is Wednesday.
        (date(2026, 11, 16), 2, date(2026, 11, 18)),
        (date(2026, 11, 16), 0, date(2026, 11, 16)),
    ],
)
def test_deadline_counts_korean_business_days(start: date, days: int, due: date) -> None:
    assert add_business_days(start, days) == due
    assert business_days_between(start, due) == days


def test_chuseok_and_weekends_are_not_business_days() -> None:
    assert not is_business_day(date(2026, 9, 25))  # Chuseok
    assert not is_business_day(date(2026, 9, 27))  # Sunday
    assert is_business_day(date(2026, 9, 28))


ALLOWED = {
    ("received", "assigned", "official"),
    ("assigned", "assigned", "official"),
    ("assigned", "in_review", "official"),
    ("in_review", "supplementation_requested", "official"),
    ("in_review", "extended", "official"),
    ("in_review", "completed", "official"),
    ("supplementation_requested", "supplemented", "resident"),
    ("supplemented", "in_review", "official"),
    ("supplemented", "supplementation_requested", "official"),
    ("supplemented", "extended", "official"),
    ("supplemented", "completed", "official"),
    ("extended", "supplementation_requested", "official"),
    ("extended", "completed", "official"),
    *{(s, "withdrawn", "resident") for s in lifecycle.STATES if s not in lifecycle.FINAL_STATES},
}


@pytest.mark.parametrize("current", lifecycle.STATES)
@pytest.mark.parametrize("target", lifecycle.STATES)
def test_each_pair_of_states_has_exactly_the_documented_role(current: str, target: str) -> None:
    expected = next((role for (c, t, role) in ALLOWED if (c, t) == (current, target)), None)
    assert lifecycle.allowed_role(current, target) == expected


def test_nothing_leaves_a_final_state() -> None:
    for final in lifecycle.FINAL_STATES:
        assert lifecycle.next_states(final, "official") == ()
        assert lifecycle.next_states(final, "resident") == ()
