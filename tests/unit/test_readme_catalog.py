"""The README's catalog table is exactly what ``gongyu catalog`` prints from the spec files."""

from __future__ import annotations

from document_specs.loader import load_bundles, load_catalog
from document_specs.markdown import catalog_markdown
from tests.conftest import repo_root


def test_readme_catalog_matches_the_specs() -> None:
    readme = (repo_root() / "README.md").read_text(encoding="utf-8")
    begin, end = "<!-- catalog:begin -->\n", "<!-- catalog:end -->"
    table = readme[readme.index(begin) + len(begin) : readme.index(end)]
    catalog = load_catalog()
    assert table == catalog_markdown(catalog, load_bundles(catalog)), "run `gongyu catalog` and paste it"
    assert len(catalog) >= 10
