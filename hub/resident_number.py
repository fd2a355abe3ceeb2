"""Korean resident registration numbers (주민등록번호): parsing, normalising and masking.

The number is the most sensitive value the hub touches. It is normalised once at the edge, turned into an
audit
commitment, passed to the holding agency, and otherwise never stored, logged or echoed. Errors never carry it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_PATTERN = re.compile(r"^([0-9]{6})-?([0-9]{7})$")
# Anything that looks like one inside free text, used to scrub log lines (a longer digit run, say an order
# number, is left readable there).
LOOKS_LIKE = re.compile(r"(?<!\d)\d{6}[-\s]?\d{7}(?!\d)")
# The stricter shape for refusing input bound for the audit log or an error detail: a birth date YYMMDD
# (a real month and day: every resident number has one), at most three separators (spaces, dashes of any
# kind, dots, underscores, slashes) and seven digits, *anywhere*, even inside a longer run of digits: with
# digit boundaries, ``"1" + number`` would slip a real number into a log that cannot forget. The date is what
# keeps ordinary tokens out: without it about one random 32-hex-digit request id in 25 would match.
_EMBEDDED = re.compile(
    r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[\s\-\u2010-\u2015\u2212\uFE63\uFF0D._/]{0,3}[0-9]{7}"
)
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


def contains_resident_number(text: str) -> bool:
    """Whether ``text`` holds anything shaped like a resident number (the one detector for refusals).

    Used by the request models' validators for every code and free-text field that reaches the audit log (an
    append-only Merkle log: an integrated value cannot be removed without breaking the tree) or an error
    detail, and for incoming request ids. Deliberately broader than :data:`LOOKS_LIKE`: those fields have no
    use for a birth date followed by 7 digits, so refusing one costs nothing, while missing a number costs a
    lot.
    """
    return _EMBEDDED.search(_ascii_digits(text)) is not None


def _ascii_digits(text: str) -> str:
    """Full-width and other Unicode decimal digits as ASCII, so ``９００１０１…`` is found too."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def scrub(text: str) -> str:
    """Replace anything shaped like a resident number, for log lines built from untrusted input."""
    return LOOKS_LIKE.sub("[resident-number]", text)
