"""Load and validate the spec files shipped in this package (or another directory).

A broken spec must stop the hub at start-up with the file and the field named, never surface as a lookup-time
error for one unlucky caller.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import ValidationError

from document_specs.model import BundleSpec, DocumentSpec

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE_DIR = PACKAGE_DIR / "bundles"


class SpecError(ValueError):
    """A spec file is unreadable or invalid; the message names the file and the field."""


class SpecCatalog(Mapping[str, DocumentSpec]):
    def __init__(self, specs: dict[str, DocumentSpec], sources: dict[str, Path]) -> None:
        self._specs = specs
        self.sources = sources

    def __getitem__(self, key: str) -> DocumentSpec:
        return self._specs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from exc


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )


def load_spec_file(path: Path) -> DocumentSpec:
    data = _read_toml(path)
    try:
        return DocumentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {_describe(exc)}") from None


def load_bundle_file(path: Path, catalog: Mapping[str, DocumentSpec] | None = None) -> BundleSpec:
    """One bundle; with a catalog, every document type and view it names must exist there."""
    try:
        bundle = BundleSpec.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise SpecError(f"{path}: {_describe(exc)}") from None
    for index, document in enumerate(bundle.documents if catalog is not None else ()):
        assert catalog is not None
        spec = catalog.get(document.type)
        if spec is None:
            raise SpecError(f"{path}: documents.{index}.type: unknown document type '{document.type}'")
        if spec.view(document.view) is None:
            raise SpecError(
                f"{path}: documents.{index}.view: "
                f"document type '{document.type}' has no view '{document.view}'"
            )
    return bundle


def load_bundles(
    catalog: Mapping[str, DocumentSpec] | None = None, *directories: Path
) -> dict[str, BundleSpec]:
    """Bundles from ``document_specs/bundles`` (or the given directories), checked against ``catalog``.

    Without a catalog, the shipped document catalog is loaded to check against.
    """
    catalog = catalog if catalog is not None else load_catalog()
    bundles: dict[str, BundleSpec] = {}
    sources: dict[str, Path] = {}
    for directory in directories or (BUNDLE_DIR,):
        for path in sorted(directory.glob("*.toml")):
            bundle = load_bundle_file(path, catalog)
            if bundle.id in bundles:
                raise SpecError(f"{path}: id: bundle '{bundle.id}' is already in {sources[bundle.id]}")
            bundles[bundle.id] = bundle
            sources[bundle.id] = path
    return bundles


def load_catalog(*directories: Path) -> SpecCatalog:
    """Specs from the package directory plus any extra directories; a duplicate type is an error."""
    specs: dict[str, DocumentSpec] = {}
    sources: dict[str, Path] = {}
    for directory in directories or (PACKAGE_DIR,):
        for path in sorted(directory.glob("*.toml")):
            spec = load_spec_file(path)
            if spec.type in specs:
                raise SpecError(f"{path}: type: '{spec.type}' is already defined in {sources[spec.type]}")
            specs[spec.type] = spec
            sources[spec.type] = path
    return SpecCatalog(specs, sources)
