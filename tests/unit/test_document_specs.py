"""Spec files: the shipped catalog is valid, broken files are named precisely, new types need no code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.base import QueryError
from document_specs.loader import PACKAGE_DIR, SpecError, load_catalog
from hub.broker import minimize, released_field_names
from hub.settings import Settings
from hub.state import build_adapters

ABSTRACT = PACKAGE_DIR / "resident_registration_abstract.toml"


def test_shipped_catalog_has_both_registration_documents_with_two_views_each() -> None:
    catalog = load_catalog()
    for doc in ("resident_registration_abstract", "resident_registration_copy"):
        spec = catalog[doc]
        assert len(spec.views) >= 2
        assert spec.titles["ko"] and spec.titles["en"]
        assert spec.holder == "mois"


def test_shipped_specs_match_the_configured_adapters(tmp_path: Path) -> None:
    catalog = load_catalog()
    adapters = build_adapters(Settings(var_dir=tmp_path))
    adapters.validate((s.type, s.adapter, s.query) for s in catalog.values())


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = ABSTRACT.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "mentions"),
    [
        ('type = "date"', 'type = "timestamp"', "fields.4.type"),
        ('ko = "주민등록표 초본"\n', "", "titles"),
        ('views = ["basic"]', 'views = ["everything"]', "unknown view 'everything'"),
        (
            '"postal_code", "moved_in_on"]',
            '"postal_code", "moved_in_on", "shoe_size"]',
            "unknown field 'shoe_size'",
        ),
        ("retention_days = 90", "retention_days = -1", "retention_days"),
        ("[titles]", "[titles", "cannot read spec"),
    ],
)
def test_a_broken_spec_names_its_file_and_field(tmp_path: Path, old: str, new: str, mentions: str) -> None:
    directory = _broken_copy(tmp_path, old, new)
    with pytest.raises(SpecError) as caught:
        load_catalog(directory)
    assert "broken.toml" in str(caught.value)
    assert mentions in str(caught.value)


def test_a_query_the_adapter_cannot_run_fails_at_start_up(tmp_path: Path) -> None:
    directory = _broken_copy(
        tmp_path, "WHERE r.resident_number = :subject AND r.status = 'active'", "WHERE r.status = 'active'"
    )
    catalog = load_catalog(directory)
    with pytest.raises(QueryError, match=r"resident_registration_abstract: query\.record"):
        build_adapters(Settings(var_dir=tmp_path)).validate(
            (s.type, s.adapter, s.query) for s in catalog.values()
        )


def test_duplicate_document_types_are_refused(tmp_path: Path) -> None:
    shutil.copy(ABSTRACT, tmp_path / "a.toml")
    shutil.copy(ABSTRACT, tmp_path / "b.toml")
    with pytest.raises(SpecError, match="already defined"):
        load_catalog(tmp_path)


def test_minimize_drops_everything_outside_the_view() -> None:
    spec = load_catalog()["resident_registration_copy"]
    record = {
        "household_address": "서울특별시 서초구 서초대로 1",
        "postal_code": "06500",
        "household_formed_on": "2001-01-01",
        "head_name": "김하나",
        "secret_column": "x",
        "members": [{"name": "김하나", "relation_to_head": "본인", "birth_date": "1970-01-01", "sex": "F"}],
    }
    released = minimize(spec, "basic", record)
    assert set(released) == {"household_address", "postal_code", "head_name", "members"}
    assert released["members"] == [{"name": "김하나", "relation_to_head": "본인"}]
    assert released_field_names(spec, "basic")[-2:] == ("members.name", "members.relation_to_head")
