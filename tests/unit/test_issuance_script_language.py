"""The language of an e-document value, read off its script (``hub.issuance.languages``, issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.issuance.languages import script_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("박유나", "ko"),  # Hangul syllables
        ("서울특별시 서초구 서초대로 12길 3", "ko"),
        ("ㄱㄴ", "ko"),  # compatibility jamo
        ("\u1100\u1161", "ko"),  # conjoining jamo (가 decomposed)
        ("朴有那", "ko"),  # hanja of a Korean name: Han alone in Korean data is Korean
        ("ปาร์ค ยูนา", "th"),
        ("やまだ", "ja"),  # hiragana
        ("パク・ユナ", "ja"),  # katakana
        ("山田たろう", "ja"),  # Han with kana is Japanese, not hanja
        ("ｱｲｳ", "ja"),  # half-width katakana
    ],
)
def test_a_script_names_its_language(text: str, expected: str) -> None:
    assert script_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("서울특별시 강남구 테헤란로 123 Tower B", "ko"),  # a Korean address with a Latin building name
        ("박유나 (PARK YUNA)", "ko"),
        ("서울 ปาร์ค", "ko"),  # Hangul wins over any other script
        ("朴 パク", "ja"),
        ("ปาร์ค Park 123", "th"),  # Thai with Latin and digits: Thai
        ("朴 ปาร์ค", "th"),  # Thai letters over Han that could be either
    ],
)
def test_mixed_scripts_get_the_language_of_their_letters_hangul_first(text: str, expected: str) -> None:
    assert script_language(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2001-01-01",  # a date
        "06500",  # a postal code
        "010126-4******",  # a masked resident number
        "—",  # an empty value's dash
        "M",  # a code
        "PARK YUNA",  # Latin: romanised Korean or not, it is not guessed
        "Nguyễn Văn A",  # Latin with diacritics
        "฿1,000",  # the baht sign is a symbol, not a Thai letter
        "A・B",  # the katakana middle dot is punctuation, which Korean writes too
        "1.5 ㎡",  # a unit symbol
    ],
)
def test_digits_dates_codes_and_latin_have_no_language_of_their_own(text: str) -> None:
    assert script_language(text) is None


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_ascii_never_names_a_language(text: str) -> None:
    assert script_language(text) is None


@given(st.text(), st.integers(min_value=0xAC00, max_value=0xD7A3), st.text())
def test_a_hangul_syllable_anywhere_makes_the_value_korean(before: str, syllable: int, after: str) -> None:
    assert script_language(before + chr(syllable) + after) == "ko"
