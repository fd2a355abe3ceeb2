"""Application form specs: the shipped six load against the catalog; a broken one names its file and field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from document_specs.forms import FORMS_DIR, load_form_file, load_forms
from document_specs.loader import SpecError, load_catalog
from document_specs.model import DISPLAY_LANGUAGES

SHIPPED = {
    "moving_in_report",
    "food_business_report",
    "basic_pension",
    "business_registration",
    "childbirth_support",
    "housing_benefit",
}


def test_every_shipped_form_loads_with_six_languages_and_resolving_prefill() -> None:
    catalog = load_catalog()
    forms = load_forms(catalog)
    assert set(forms) >= SHIPPED
    for form in forms.values():
        for text in (form.titles, form.descriptions, form.department_titles):
            assert set(text) == set(DISPLAY_LANGUAGES)
        for field in form.fields:
            assert all(field.labels[lang].strip() for lang in DISPLAY_LANGUAGES)
        for p in form.prefill:
            assert p.source in catalog[p.document_type].view_selection(p.view)
        assert form.deadline_business_days >= 1


def _write(tmp_path: Path, data: dict[str, Any], name: str = "broken.toml") -> Path:
    """The moving-in report, changed by ``data`` (a shallow update), written back as TOML."""
    original = tomllib.loads((FORMS_DIR / "moving_in_report.toml").read_text(encoding="utf-8"))
    original.update(data)
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"

    for key, v in original.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            continue
        lines.append(f"{key} = {value(v)}")
    for key, v in original.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"[[{key}]]")
                lines.extend(f"{k} = {value(x)}" for k, x in item.items())
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_rewriter_itself_keeps_a_good_form_loadable(tmp_path: Path) -> None:
    form = load_form_file(_write(tmp_path, {}), load_catalog())
    assert form.type == "moving_in_report"


PREFILL = {"field": "applicant_name", "document_type": "resident_registration_abstract", "view": "basic"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"department": "Civil Affairs"}, "department: String should match pattern"),
        ({"deadline_business_days": 0}, "deadline_business_days: Input should be greater than or equal to 1"),
        (
            {"titles": {"ko": "전입신고", "en": "Moving-in report"}},
            "titles: Value error, missing language(s): ja",
        ),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        (
            {"prefill": [{**PREFILL, "document_type": "no_such_document", "source": "name"}]},
            "prefill.0.document_type: unknown document type 'no_such_document'",
        ),
        (
            {"prefill": [{**PREFILL, "view": "nope", "source": "name"}]},
            "prefill.0.view: document type 'resident_registration_abstract' has no view 'nope'",
        ),
        (
            {"prefill": [{**PREFILL, "source": "name_hanja"}]},
            "prefill.0.source: view 'basic' of 'resident_registration_abstract' has no field 'name_hanja'",
        ),
        (
            {"prefill": [{**PREFILL, "field": "not_a_field", "source": "name"}]},
            "prefill names unknown form field 'not_a_field'",
        ),
        (
            {"prefill": [{**PREFILL, "field": "movers_count", "source": "name"}]},
            "prefill.0.field: a integer field cannot be filled from string 'name'",
        ),
    ],
)
def test_a_broken_form_is_refused_naming_file_and_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(SpecError) as caught:
        load_forms(load_catalog(), tmp_path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_field_with_a_bad_pattern_or_missing_label_names_the_field(tmp_path: Path) -> None:
    original = tomllib.loads((FORMS_DIR / "moving_in_report.toml").read_text(encoding="utf-8"))
    fields = original["fields"]
    fields[2] = {**fields[2], "pattern": "([0-9"}
    path = _write(tmp_path, {"fields": fields})
    with pytest.raises(SpecError, match=r"fields\.2\.pattern: Value error, pattern does not compile"):
        load_form_file(path)
    fields[2] = {k: v for k, v in fields[2].items() if k != "pattern"}
    fields[2]["labels"] = {k: v for k, v in fields[2]["labels"].items() if k != "th"}
    path = _write(tmp_path, {"fields": fields})
    with pytest.raises(SpecError, match=r"fields\.2\.labels: Value error, missing language\(s\): th"):
        load_form_file(path)


def test_two_forms_of_one_type_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, {}, "a.toml")
    second = _write(tmp_path, {}, "b.toml")
    with pytest.raises(SpecError, match="type: form 'moving_in_report' is already in"):
        load_forms(load_catalog(), tmp_path)
    assert second.exists()
