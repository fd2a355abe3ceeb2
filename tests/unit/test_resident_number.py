"""Parsing and masking resident registration numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import resident_number
from hub.resident_number import InvalidResidentNumber


def test_hyphenated_and_bare_forms_normalise_to_the_same_digits() -> None:
    assert resident_number.normalize("900101-1234567") == resident_number.normalize(" 9001011234567 ")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "900101-123456",
        "900101--1234567",
        "9001011234567 8",
        "901301-1234567",
        "900230-2234567",
        "000229-1234567",  # 1900 was not a leap year
        "abcdef-ghijklm",
        "９００１０１-１２３４５６７",
    ],
)
def test_malformed_numbers_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(InvalidResidentNumber) as caught:
        resident_number.normalize(value)
    assert value.strip() not in str(caught.value) or not value.strip()


def test_leap_day_is_valid_in_a_leap_century_year() -> None:
    assert resident_number.normalize("000229-3234567") == "0002293234567"  # 2000-02-29


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(0, 999_999),
    st.sampled_from("1234"),
)
def test_every_real_calendar_date_round_trips_and_masks_to_its_birth_part(
    birth: date, serial: int, sex_digit: str
) -> None:
    code = (
        sex_digit if birth.year < 2000 else str(int(sex_digit) + 2 if sex_digit in "12" else int(sex_digit))
    )
    if birth.year < 2000 and code not in "12":
        code = "1"
    value = f"{birth:%y%m%d}-{code}{serial:06d}"
    normalized = resident_number.normalize(value)
    assert resident_number.mask(normalized) == f"{birth:%y%m%d}-{code}******"


def test_scrub_hides_numbers_inside_free_text() -> None:
    text = "path /v1/x/900101-1234567 and 9001011234567 but not order 12345678901234"
    scrubbed = resident_number.scrub(text)
    assert "1234567" not in scrubbed.replace("12345678901234", "")
    assert scrubbed.count("[resident-number]") == 2


def test_impossible_dates_one_day_past_month_end_are_refused() -> None:
    for month_end in (date(1999, 4, 30), date(2001, 2, 28), date(1985, 6, 30)):
        bad = month_end + timedelta(days=0)
        value = f"{bad:%y%m}{bad.day + 1:02d}-1234567"
        with pytest.raises(InvalidResidentNumber):
            resident_number.normalize(value)
