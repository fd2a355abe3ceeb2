"""Civil application forms as data: ``document_specs/forms/*.toml``, validated at start-up.

A form says what a resident fills in (typed fields with labels in the six page languages and their
validation), which fields of which shared documents pre-fill which form fields (document type + view +
field, checked against the document catalog), which attachments go with it, whether a proxy may apply, which
department handles it, how many business days it may take and how long the case is kept. Adding a form needs
no code: a new file, and a broken one stops the hub at start-up with the file and the field named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from document_specs.loader import SpecError, _describe, _read_toml
from document_specs.model import DISPLAY_LANGUAGES, DocumentSpec

FORMS_DIR = Path(__file__).resolve().parent / "forms"

FieldType = Literal["string", "text", "date", "integer", "boolean", "choice", "phone", "resident_number"]
# Document field types a form field of each type may be pre-filled from.
_PREFILL_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "date", "integer"}),
    "text": frozenset({"string"}),
    "date": frozenset({"date"}),
    "integer": frozenset({"integer"}),
    "boolean": frozenset({"boolean"}),
    "choice": frozenset({"string"}),
    "phone": frozenset({"string"}),
    # A resident number never comes from a document: documents release it masked only.
    "resident_number": frozenset(),
}


def _six(texts: dict[str, str]) -> dict[str, str]:
    """Forms are shown to residents in every page language, so each text must exist in all six."""
    missing = [lang for lang in DISPLAY_LANGUAGES if not texts.get(lang, "").strip()]
    if missing:
        raise ValueError(f"missing language(s): {', '.join(missing)}")
    extra = sorted(set(texts) - set(DISPLAY_LANGUAGES))
    if extra:
        raise ValueError(f"unknown language(s): {', '.join(extra)}")
    return texts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    value: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    labels: dict[str, str]

    _labels = field_validator("labels")(_six)


class FormField(_Strict):
    """One input of the form, with the checks its answer must pass."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: FieldType
    labels: dict[str, str]
    required: bool = False
    max_length: int = Field(default=200, ge=1, le=4000)
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Choice, ...] = ()

    _labels = field_validator("labels")(_six)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"choice field '{self.name}' needs choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"field '{self.name}' has choices but is not a choice")
        if (self.minimum is not None or self.maximum is not None) and self.type != "integer":
            raise ValueError(f"field '{self.name}' has minimum/maximum but is not an integer")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field '{self.name}': minimum is above maximum")
        return self

    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


class Prefill(_Strict):
    """One form field taken from one field of a shared document, read under the resident's consent."""

    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    document_type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    view: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class Attachment(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    labels: dict[str, str]
    required: bool = True

    _labels = field_validator("labels")(_six)


class FormSpec(_Strict):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    titles: dict[str, str]
    descriptions: dict[str, str]
    statute: str = Field(min_length=1, max_length=200)  # the law the application is made under
    department: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    department_titles: dict[str, str]
    deadline_business_days: int = Field(ge=1, le=365)
    retention_days: int = Field(ge=1, le=36500)
    proxy_allowed: bool = False
    fields: tuple[FormField, ...] = Field(min_length=1)
    prefill: tuple[Prefill, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    _texts = field_validator("titles", "descriptions", "department_titles")(_six)

    @model_validator(mode="after")
    def _references_resolve(self) -> FormSpec:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        filled = [p.field for p in self.prefill]
        if len(set(filled)) != len(filled):
            raise ValueError("each form field is pre-filled from one source at most")
        for p in self.prefill:
            if p.field not in names:
                raise ValueError(f"prefill names unknown form field '{p.field}'")
        attachments = [a.name for a in self.attachments]
        if len(set(attachments)) != len(attachments):
            raise ValueError("attachment names must be unique")
        return self

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def prefill_documents(self) -> tuple[tuple[str, str], ...]:
        """(document type, view) pairs the pre-fill reads, each once, in the order the spec names them."""
        seen: dict[tuple[str, str], None] = {}
        for p in self.prefill:
            seen.setdefault((p.document_type, p.view), None)
        return tuple(seen)


def check_against_catalog(form: FormSpec, catalog: Mapping[str, DocumentSpec]) -> None:
    """Every pre-fill source must be a released, single-valued field of an existing document view.

    Raises ``ValueError`` with the offending location (``prefill.<i>.<key>``).
    """
    for index, p in enumerate(form.prefill):
        where = f"prefill.{index}"
        document = catalog.get(p.document_type)
        if document is None:
            raise ValueError(f"{where}.document_type: unknown document type '{p.document_type}'")
        if document.view(p.view) is None:
            raise ValueError(f"{where}.view: document type '{p.document_type}' has no view '{p.view}'")
        selection = document.view_selection(p.view)
        source = document.field(p.source)
        if source is None or p.source not in selection:
            raise ValueError(
                f"{where}.source: view '{p.view}' of '{p.document_type}' has no field '{p.source}'"
            )
        if source.type == "list":
            raise ValueError(f"{where}.source: '{p.source}' is a list and cannot fill one form field")
        target = form.field(p.field)
        assert target is not None  # checked by the model
        if source.type not in _PREFILL_TYPES[target.type]:
            raise ValueError(
                f"{where}.field: a {target.type} field cannot be filled from {source.type} '{p.source}'"
            )


def load_form_file(path: Path, catalog: Mapping[str, DocumentSpec] | None = None) -> FormSpec:
    try:
        form = FormSpec.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise SpecError(f"{path}: {_describe(exc)}") from None
    if catalog is not None:
        try:
            check_against_catalog(form, catalog)
        except ValueError as exc:
            raise SpecError(f"{path}: {exc}") from None
    return form


def load_forms(catalog: Mapping[str, DocumentSpec], *directories: Path) -> dict[str, FormSpec]:
    """Forms from ``document_specs/forms`` (or the given directories), checked against ``catalog``."""
    forms: dict[str, FormSpec] = {}
    sources: dict[str, Path] = {}
    for directory in directories or (FORMS_DIR,):
        for path in sorted(directory.glob("*.toml")):
            form = load_form_file(path, catalog)
            if form.type in forms:
                raise SpecError(f"{path}: type: form '{form.type}' is already in {sources[form.type]}")
            forms[form.type] = form
            sources[form.type] = path
    return forms
