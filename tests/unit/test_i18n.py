"""Error messages exist in every supported language and the caller's language is honoured."""

from __future__ import annotations

import re

import pytest

from hub import i18n


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    reference = i18n.MESSAGES["en"]
    for lang in i18n.SUPPORTED:
        catalog = i18n.MESSAGES[lang]
        assert set(catalog) == set(reference), f"{lang} differs from en"
        for key, text in catalog.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", reference[key])), key
            if lang != "en":
                assert text != reference[key], f"{lang}:{key} is untranslated"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "ko"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("ko;q=0.2, en;q=0.9", "en"),
        ("de", "ko"),
        ("*", "ko"),
        ("en;q=0, ko;q=0.1", "ko"),
        ("en;q=abc", "ko"),
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected
