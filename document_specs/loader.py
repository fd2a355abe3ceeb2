"""Load and validate the spec files shipped in this package (or another directory).

A broken spec must stop the hub at start-up with the file and the field named, never surface as a lookup-time
error for one unlucky caller.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import ValidationError

from document_specs.model import DocumentSpec

PACKAGE_DIR = Path(__file__).resolve().parent


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


def load_spec_file(path: Path) -> DocumentSpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from exc
    try:
        return DocumentSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise SpecError(f"{path}: {problems}") from None


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
