"""Life-event bundles: shipped ones load against the catalog; a bad one names its file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from document_specs.loader import SpecError, load_bundles, load_catalog

GOOD = """
id = "{id}"
purpose_code = "test"
titles = {{ ko = "테스트", en = "Test" }}
descriptions = {{ ko = "설명", en = "Description" }}
[[documents]]
type = "{type}"
view = "{view}"
"""


def test_shipped_bundles_cover_the_four_life_events_and_resolve() -> None:
    catalog = load_catalog()
    bundles = load_bundles(catalog)
    assert {"moving_house", "loan_application", "marriage_registration", "starting_a_business"} <= set(
        bundles
    )
    for bundle in bundles.values():
        assert bundle.titles["ko"] and bundle.titles["en"]
        for document in bundle.documents:
            assert catalog[document.type].view(document.view) is not None
    assert load_bundles() == bundles  # defaults to the shipped catalog


@pytest.mark.parametrize(
    ("type_", "view", "message"),
    [
        ("no_such_document", "basic", "documents.0.type: unknown document type 'no_such_document'"),
        (
            "building_register",
            "everything",
            "documents.0.view: document type 'building_register' has no view",
        ),
    ],
)
def test_unknown_document_or_view_names_the_file(tmp_path: Path, type_: str, view: str, message: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(GOOD.format(id="broken", type=type_, view=view), encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_bundles(load_catalog(), tmp_path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_duplicate_bundle_ids_and_documents_are_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            GOOD.format(id="same", type="building_register", view="basic"), encoding="utf-8"
        )
    with pytest.raises(SpecError, match="already in"):
        load_bundles(load_catalog(), tmp_path)
    twice = tmp_path / "twice"
    twice.mkdir()
    body = GOOD.format(id="twice", type="building_register", view="basic")
    (twice / "t.toml").write_text(body + '[[documents]]\ntype = "building_register"\nview = "full"\n')
    with pytest.raises(SpecError, match="each document type once"):
        load_bundles(load_catalog(), twice)
