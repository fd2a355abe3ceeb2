"""Issuance numbers: 16 digits in groups of four, 15 random digits and a Verhoeff check digit.

The Verhoeff scheme (J. Verhoeff, "Error detecting decimal codes", 1969) works in the dihedral group D5, which
is not commutative; with the position permutation it detects every single-digit substitution and every swap of
two adjacent digits, the two errors people make when they copy a number by hand (the tests check both
exhaustively).
Numbers are unguessable: the 15 payload digits come from ``secrets`` (about 50 bits), and the service rejects
a collision through the table's primary key.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

# Multiplication table of D5, the permutation applied by position (mod 8) and the inverses (Verhoeff 1969).
_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV: Final = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

LENGTH: Final = 16
_SEPARATORS = re.compile(r"[\s\-]")


class InvalidIssuanceNumber(ValueError):
    """Not an issuance number; ``reason`` is ``format`` (not 16 digits) or ``check_digit``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checksum(digits: str) -> int:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c


def check_digit(payload: str) -> str:
    """The Verhoeff digit that makes ``payload + digit`` valid."""
    if not payload.isascii() or not payload.isdigit():
        raise ValueError("payload must be decimal digits")
    return str(_INV[_checksum(payload + "0")])


def is_valid(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and _checksum(digits) == 0


def generate() -> str:
    """A fresh random number, as 16 bare digits."""
    payload = f"{secrets.randbelow(10 ** (LENGTH - 1)):0{LENGTH - 1}d}"
    return payload + check_digit(payload)


def parse(text: str) -> str:
    """Accept ``1234-5678-9012-3456``, spaces or bare digits; return the 16 bare digits."""
    digits = _SEPARATORS.sub("", text)
    if len(digits) != LENGTH or not digits.isascii() or not digits.isdigit():
        raise InvalidIssuanceNumber("format")
    if not is_valid(digits):
        raise InvalidIssuanceNumber("check_digit")
    return digits


def display(digits: str) -> str:
    """Groups of four joined by hyphens, as printed on the document."""
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
