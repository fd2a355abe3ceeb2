"""Korean resident registration numbers (주민등록번호): parsing, normalising and masking.

The number is the most sensitive value the hub touches. It is normalised once at the edge, turned into an
audit
commitment, passed to the holding agency, and otherwise never stored, logged or echoed. Errors never carry it.
"""

from __future__ import annotations

import re
from datetime import date

_PATTERN = re.compile(r"^([0-9]{6})-?([0-9]{7})$")
# Anything that looks like one inside free text, used to scrub logs and refuse free-text fields.
LOOKS_LIKE = re.compile(r"(?<!\d)\d{6}[-\s]?\d{7}(?!\d)")
_CENTURY = {
    "9": 1800,
    "0": 1800,
    "1": 1900,
    "2": 1900,
    "5": 1900,
    "6": 1900,
    "3": 2000,
    "4": 2000,
    "7": 2000,
    "8": 2000,
}


class InvalidResidentNumber(ValueError):
    """The value is not a well-formed resident registration number (the value itself is never included)."""

    def __init__(self) -> None:
        super().__init__("malformed resident registration number")


def normalize(value: str) -> str:
    """Return the 13-digit form, checking the shape and that YYMMDD is a real date in its century."""
    match = _PATTERN.match(value.strip())
    if match is None:
        raise InvalidResidentNumber()
    digits = match.group(1) + match.group(2)
    century = _CENTURY[digits[6]]
    try:
        date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        raise InvalidResidentNumber() from None
    return digits


def mask(normalized: str) -> str:
    """Show only the birth date and century/sex digit, as Korean documents print it."""
    return f"{normalized[:6]}-{normalized[6]}******"


def scrub(text: str) -> str:
    """Replace anything shaped like a resident number, for log lines built from untrusted input."""
    return LOOKS_LIKE.sub("[resident-number]", text)
