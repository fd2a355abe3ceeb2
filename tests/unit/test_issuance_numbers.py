"""Issuance numbers: Verhoeff check digit, exhaustively against single-digit errors and adjacent swaps."""

from __future__ import annotations

import random

import pytest

from hub.issuance import numbers
from hub.issuance.numbers import _D, _INV, _P


def _mul(a: int, b: int) -> int:
    return _D[a][b]


def test_d5_table_is_a_group_with_the_listed_inverses() -> None:
    for a in range(10):
        assert _mul(a, 0) == a == _mul(0, a)
        assert _mul(a, _INV[a]) == 0
        for b in range(10):
            for c in range(10):
                assert _mul(_mul(a, b), c) == _mul(a, _mul(b, c))
    assert any(_mul(a, b) != _mul(b, a) for a in range(10) for b in range(10)), "D5 is not abelian"


def test_position_permutations_are_the_powers_of_verhoeffs_sigma() -> None:
    sigma = _P[1]
    for i in range(1, 8):
        assert _P[i] == tuple(sigma[_P[i - 1][d]] for d in range(10)), i
    assert tuple(sigma[_P[7][d]] for d in range(10)) == _P[0]  # period 8


@pytest.mark.parametrize(("payload", "digit"), [("236", "3"), ("12345", "1"), ("142857", "0")])
def test_published_verhoeff_examples(payload: str, digit: str) -> None:
    assert numbers.check_digit(payload) == digit
    assert numbers.is_valid(payload + digit)


def test_every_single_digit_error_and_adjacent_swap_is_caught_algebraically() -> None:
    """Exhaustive over what matters: the checksum is a product in D5 of P^i(digit), i = position mod 8.

    A substitution a → b at position i changes one factor P^i(a) to P^i(b) (a bijection, so it differs);
    a swap of neighbours at positions i, i+1 changes the pair product P^i(a)·P^(i+1)(b). In a group the
    rest of the product cancels, so checking every position class and every digit pair covers every number.
    """
    for i in range(8):
        for a in range(10):
            for b in range(10):
                if a == b:
                    continue
                assert _P[i][a] != _P[i][b]
                # positions count from the right: ... · P^i(x_i) · P^(i+1)(x_(i+1)) · ...
                assert _mul(_P[i][a], _P[(i + 1) % 8][b]) != _mul(_P[i][b], _P[(i + 1) % 8][a]), (i, a, b)


def test_every_single_digit_error_and_adjacent_swap_is_caught_by_brute_force() -> None:
    rng = random.Random(20261123)
    samples = [numbers.generate() for _ in range(200)]
    samples += ["".join(rng.choice("0123456789") for _ in range(15)) for _ in range(200)]
    for number in samples:
        if len(number) == 15:
            number += numbers.check_digit(number)
        assert numbers.is_valid(number)
        for position in range(16):
            for digit in "0123456789":
                if digit != number[position]:
                    changed = number[:position] + digit + number[position + 1 :]
                    assert not numbers.is_valid(changed), (number, changed)
        for position in range(15):
            a, b = number[position], number[position + 1]
            if a != b:
                swapped = number[:position] + b + a + number[position + 2 :]
                assert not numbers.is_valid(swapped), (number, swapped)


def test_generated_numbers_are_16_random_digits_and_parse_in_any_spelling() -> None:
    drawn = {numbers.generate() for _ in range(2000)}
    assert len(drawn) == 2000
    for number in list(drawn)[:50]:
        assert len(number) == 16 and number.isdigit()
        shown = numbers.display(number)
        assert shown.count("-") == 3 and all(len(g) == 4 for g in shown.split("-"))
        assert numbers.parse(shown) == number
        assert numbers.parse(shown.replace("-", " ")) == number
    # the leading digit is uniform, not fixed: 2000 draws hit every value
    assert {n[0] for n in drawn} == set("0123456789")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1234", "format"),
        ("1234-5678-9012-345x", "format"),
        ("１２３４５６７８９０１２３４５６", "format"),  # full-width digits are not ASCII
        ("12345678901234567", "format"),
    ],
)
def test_malformed_numbers_name_the_reason(text: str, reason: str) -> None:
    with pytest.raises(numbers.InvalidIssuanceNumber) as caught:
        numbers.parse(text)
    assert caught.value.reason == reason


def test_wrong_check_digit_is_its_own_reason() -> None:
    number = numbers.generate()
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(numbers.InvalidIssuanceNumber) as caught:
        numbers.parse(wrong)
    assert caught.value.reason == "check_digit"
