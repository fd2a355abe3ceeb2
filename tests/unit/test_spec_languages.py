"""Every human-readable text in the shipped specs and bundles is translated into all six page languages.

A language table is any TOML table with ``ko`` and ``en`` keys (titles, holder_titles, descriptions, ...).
The model falls back to English for a missing language, so only this test stops an untranslated spec from
shipping; a value that repeats the English text counts as untranslated.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from document_specs.loader import BUNDLE_DIR, PACKAGE_DIR, load_bundles, load_catalog
from document_specs.model import DISPLAY_LANGUAGES

SHIPPED_FILES = sorted(PACKAGE_DIR.glob("*.toml")) + sorted(BUNDLE_DIR.glob("*.toml"))
TRANSLATED = [lang for lang in DISPLAY_LANGUAGES if lang not in ("ko", "en")]


def _raw(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _language_tables(node: object, where: str = "") -> Iterator[tuple[str, dict[str, object]]]:
    if isinstance(node, dict):
        if "ko" in node and "en" in node:
            yield where, node
        for key, value in node.items():
            yield from _language_tables(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _language_tables(value, f"{where}[{index}]")


def test_the_shipped_spec_files_are_all_checked() -> None:
    assert len(list(PACKAGE_DIR.glob("*.toml"))) >= 12
    assert len(list(BUNDLE_DIR.glob("*.toml"))) >= 4
    assert set(DISPLAY_LANGUAGES) == {"ko", "en", "ja", "zh", "th", "vi"}


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_spec_text_is_in_all_six_languages(path: Path) -> None:
    tables = list(_language_tables(_raw(path)))
    assert tables, f"{path.name}: no language tables found"
    for where, table in tables:
        for lang in DISPLAY_LANGUAGES:
            value = table.get(lang)
            assert isinstance(value, str) and value.strip(), f"{path.name}:{where}: '{lang}' missing or empty"
        for lang in TRANSLATED:
            assert table[lang] != table["en"], f"{path.name}:{where}: '{lang}' repeats the English text"


def test_every_language_table_keeps_the_ko_en_ja_zh_th_vi_order() -> None:
    for path in SHIPPED_FILES:
        for where, table in _language_tables(_raw(path)):
            assert tuple(table) == DISPLAY_LANGUAGES, f"{path.name}:{where}: keys {tuple(table)}"


def test_the_catalog_still_loads_and_carries_the_toml_translations() -> None:
    catalog = load_catalog()
    assert len(catalog) == len(list(PACKAGE_DIR.glob("*.toml")))
    for doc_type, spec in catalog.items():
        raw = _raw(catalog.sources[doc_type])
        for lang in DISPLAY_LANGUAGES:
            assert spec.titles[lang] == raw["titles"][lang]
            assert spec.holder_titles[lang] == raw["holder_titles"][lang]
        assert spec.fields[0].titles["ja"] == raw["fields"][0]["titles"]["ja"]
    abstract = catalog["resident_registration_abstract"]
    assert abstract.titles["ja"] == "住民登録票抄本"
    assert abstract.titles["zh"] == "居民登记簿摘本"


def test_the_bundles_still_load_and_carry_the_toml_translations() -> None:
    bundles = load_bundles()
    assert len(bundles) == len(list(BUNDLE_DIR.glob("*.toml")))
    for path in sorted(BUNDLE_DIR.glob("*.toml")):
        raw = _raw(path)
        bundle = bundles[str(raw["id"])]
        for lang in DISPLAY_LANGUAGES:
            assert bundle.titles[lang] == raw["titles"][lang]
            assert bundle.descriptions[lang] == raw["descriptions"][lang]
