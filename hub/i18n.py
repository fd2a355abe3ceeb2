"""Caller-language text: gettext catalogs (Babel) for API errors and pages, and locale formatting.

Catalogs live in ``hub/locales/<lang>/LC_MESSAGES/<domain>.po`` and are read with Babel at first use (no
compile step, nothing binary in the repository). Message ids are stable keys rather than English sentences, so
a changed English wording does not orphan six translations; each non-English entry carries the English text
as an extracted comment for translators. ``tests/unit/test_catalogs.py`` fails when any catalog misses a key,
has an empty or fuzzy entry, or repeats the English text without marking it ``same-as-source``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_datetime as _babel_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

SUPPORTED: Final = ("ko", "en", "ja", "zh", "th", "vi")
DEFAULT: Final = "ko"
LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"
# The hub serves Korea: times are shown in Korean time whatever the language.
KST: Final = timezone(timedelta(hours=9), "KST")
# Names shown in the language chooser, each in its own language.
NATIVE_NAMES: Final[Mapping[str, str]] = {
    "ko": "한국어",
    "en": "English",
    "ja": "日本語",
    "zh": "简体中文",
    "th": "ไทย",
    "vi": "Tiếng Việt",
}


def domains() -> tuple[str, ...]:
    """Every catalog domain, named by the English catalog's files."""
    return tuple(sorted(p.stem for p in (LOCALES_DIR / "en" / "LC_MESSAGES").glob("*.po")))


@cache
def catalog(lang: str, domain: str) -> Mapping[str, str]:
    """The translated entries of one catalog; empty and fuzzy entries count as missing."""
    path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=lang, domain=domain)
    return {
        str(m.id): str(m.string)
        for m in parsed
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def gettext(lang: str, domain: str, key: str) -> str:
    """The text for ``key``; English when a language misses it (the catalog test keeps that from shipping)."""
    text = catalog(lang, domain).get(key) or catalog("en", domain).get(key)
    if text is None:
        raise KeyError(f"{domain}:{key}")
    return text


def format_moment(moment: str | datetime | None, lang: str, format: str = "medium") -> str:
    """A UTC timestamp in Korean time, written the way the reader's locale writes dates and times."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _babel_datetime(moment, format=format, tzinfo=KST, locale=_locale(lang)) + " KST"


def format_number(value: float | int, lang: str) -> str:
    return format_decimal(value, locale=_locale(lang))


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang if lang in SUPPORTED else DEFAULT)


def negotiate(accept_language: str | None) -> str:
    """Pick the best supported language from an Accept-Language header (RFC 9110 §12.5.4 q-values)."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in SUPPORTED:
            return primary
        if tag == "*":
            return DEFAULT
    return DEFAULT


def message(lang: str, key: str, **params: object) -> str:
    """An API error title or detail (domain ``errors``) with its parameters filled in."""
    return gettext(lang, "errors", key).format(**params)
