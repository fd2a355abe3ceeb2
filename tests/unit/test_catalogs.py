"""The gettext catalogs are complete in all six languages, and the caller's language is honoured.

A catalog that misses a key, leaves an entry empty or fuzzy, drops a placeholder, or repeats the English text
without marking it ``same-as-source`` fails here, so an untranslated string cannot ship.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from hub import i18n

WEB_TEMPLATES = Path(i18n.__file__).resolve().parent / "web" / "templates"
NON_WEB_DOMAINS = {"errors"}


def _entries(lang: str, domain: str) -> dict[str, Message]:
    path = i18n.LOCALES_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"missing catalog {path}"
    with path.open("rb") as handle:
        return {str(m.id): m for m in read_po(handle, locale=lang, domain=domain) if m.id}


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"{(\w+)}", text))


@pytest.mark.parametrize("domain", i18n.domains())
@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_every_catalog_has_every_key_translated_with_the_same_placeholders(lang: str, domain: str) -> None:
    english = {key: str(m.string) for key, m in _entries("en", domain).items()}
    entries = _entries(lang, domain)
    assert set(entries) - set(english) == set(), f"{lang}/{domain}: keys unknown to English"
    assert set(english) - set(entries) == set(), f"{lang}/{domain}: missing keys"
    for key, message in entries.items():
        text = str(message.string)
        assert text.strip(), f"{lang}/{domain}:{key} is empty"
        assert not message.fuzzy, f"{lang}/{domain}:{key} is fuzzy"
        assert _placeholders(text) == _placeholders(english[key]), f"{lang}/{domain}:{key} placeholders"
        if lang != "en":
            assert text != english[key] or "same-as-source" in message.flags, (
                f"{lang}/{domain}:{key} repeats the English text (untranslated?)"
            )


def test_page_domains_do_not_share_keys() -> None:
    # Pages read several domains at once; one key in two domains would make the winner depend on order.
    seen: dict[str, str] = {}
    for domain in set(i18n.domains()) - NON_WEB_DOMAINS:
        for key in i18n.catalog("en", domain):
            assert key not in seen, f"{key} is in both {seen[key]} and {domain}"
            seen[key] = domain


def test_every_string_a_template_names_is_in_a_catalog() -> None:
    known = {key for domain in i18n.domains() for key in i18n.catalog("en", domain)}
    used: set[str] = set()
    for template in WEB_TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\.([a-z_][a-z0-9_]*)\b(?!\()", text))
        used |= set(re.findall(r"""\bt\[["']([a-z0-9_.-]+)["']\]""", text))
    assert used, "the template scan found nothing: the pattern is wrong"
    assert sorted(used - known) == []


def test_api_errors_exist_in_the_callers_language() -> None:
    texts = {lang: i18n.message(lang, "consent-revoked.detail") for lang in i18n.SUPPORTED}
    assert len(set(texts.values())) == len(i18n.SUPPORTED)
    assert i18n.message("en", "unknown-bundle.detail", bundle="x") == "There is no life-event bundle 'x'."


def test_dates_and_numbers_follow_the_locale_and_korean_time() -> None:
    moment = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)  # 19:05 in Korea
    shown = {lang: i18n.format_moment(moment, lang) for lang in i18n.SUPPORTED}
    assert all("19:05" in text or "7:05" in text for text in shown.values()), shown
    assert len(set(shown.values())) >= 5, shown  # each locale writes dates its own way
    assert "2569" in i18n.format_moment(moment, "th", "long") or "2026" in shown["th"]
    assert i18n.format_number(1234567, "en") == "1,234,567"
    assert i18n.format_number(1234567, "vi") == "1.234.567"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "ko"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("ko;q=0.2, en;q=0.9", "en"),
        ("ja-JP,ja;q=0.9,en;q=0.5", "ja"),
        ("zh-CN,zh;q=0.9", "zh"),
        ("th-TH", "th"),
        ("vi", "vi"),
        ("de", "ko"),
        ("*", "ko"),
        ("en;q=0, ko;q=0.1", "ko"),
        ("en;q=abc", "ko"),
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected
