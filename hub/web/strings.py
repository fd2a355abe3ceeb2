"""Page text for one language, read from the gettext catalogs (``hub/locales``, domain ``pages`` and friends).

Templates write ``t.sign_in`` or ``t["mode.one_time"]``; a key no catalog has raises, so a typo in a template
fails its test instead of rendering an empty label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hub import i18n


class Strings(Mapping[str, str]):
    """The page strings of one language: the ``pages`` domain plus any page-specific domains."""

    def __init__(self, lang: str, domains: tuple[str, ...] = ("pages", "common")) -> None:
        self.lang = lang
        self._domains = domains

    def __getitem__(self, key: str) -> str:
        for domain in self._domains:
            if key in i18n.catalog("en", domain):
                return i18n.gettext(self.lang, domain, key)
        raise KeyError(key)

    def __getattr__(self, key: str) -> str:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[str]:
        for domain in self._domains:
            yield from i18n.catalog("en", domain)

    def __len__(self) -> int:
        return sum(len(i18n.catalog("en", domain)) for domain in self._domains)


class _Languages(Mapping[str, Strings]):
    def __getitem__(self, lang: str) -> Strings:
        if lang not in i18n.SUPPORTED:
            raise KeyError(lang)
        return Strings(lang)

    def __iter__(self) -> Iterator[str]:
        return iter(i18n.SUPPORTED)

    def __len__(self) -> int:
        return len(i18n.SUPPORTED)


STRINGS: Mapping[str, Strings] = _Languages()
