"""The declarative shape of a document type.

A spec is data: what the document is, who holds it, how the holder's adapter is asked, which field sets
(views) exist and which statutes allow a lookup without consent. Adding a document must need no code when the
holder's adapter kind exists, so everything the broker needs to know lives here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REQUIRED_LANGUAGES = ("ko", "en")
# Every language the pages speak. A spec must carry Korean and English; the shipped specs carry all six (a
# test checks), and a newly connected document missing one is shown in English rather than refused.
DISPLAY_LANGUAGES = ("ko", "en", "ja", "zh", "th", "vi")
ClientKind = Literal["bank", "agency"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_titles(titles: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in REQUIRED_LANGUAGES if not titles.get(lang, "").strip()]
    if missing:
        raise ValueError(f"titles missing for language(s): {', '.join(missing)}")
    given = {lang: text for lang, text in titles.items() if text.strip()}
    return {**{lang: titles["en"] for lang in DISPLAY_LANGUAGES}, **given}


class FieldSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["string", "date", "integer", "boolean", "list"]
    titles: dict[str, str]
    sensitive: bool = False
    items: tuple[FieldSpec, ...] = ()

    _titles = field_validator("titles")(_check_titles)

    @model_validator(mode="after")
    def _items_only_for_lists(self) -> FieldSpec:
        if self.type == "list" and not self.items:
            raise ValueError(f"list field '{self.name}' needs items")
        if self.type != "list" and self.items:
            raise ValueError(f"field '{self.name}' has items but is not a list")
        return self


class ViewSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    titles: dict[str, str]
    # "field" or "list_field.item_field" to release only part of each list entry.
    fields: tuple[str, ...] = Field(min_length=1)

    _titles = field_validator("titles")(_check_titles)


class LegalBasis(_Strict):
    code: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9-]+$")
    titles: dict[str, str]
    client_kinds: tuple[ClientKind, ...] = Field(min_length=1)
    views: tuple[str, ...] = Field(min_length=1)

    _titles = field_validator("titles")(_check_titles)


class DocumentSpec(_Strict):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    titles: dict[str, str]
    holder: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    holder_titles: dict[str, str]
    adapter: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    query: dict[str, Any]
    subject_kind: Literal["person", "business", "property"]
    fields: tuple[FieldSpec, ...] = Field(min_length=1)
    views: tuple[ViewSpec, ...] = Field(min_length=1)
    legal_bases: tuple[LegalBasis, ...] = ()
    issuable: bool = False
    retention_days: int = Field(default=90, ge=1, le=3650)

    _titles = field_validator("titles", "holder_titles")(_check_titles)

    @model_validator(mode="after")
    def _references_resolve(self) -> DocumentSpec:
        by_name = {f.name: f for f in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError("field names must be unique")
        view_names = [v.name for v in self.views]
        if len(set(view_names)) != len(view_names):
            raise ValueError("view names must be unique")
        for view in self.views:
            for ref in view.fields:
                top, _, sub = ref.partition(".")
                if top not in by_name:
                    raise ValueError(f"view '{view.name}' names unknown field '{top}'")
                if sub and sub not in {i.name for i in by_name[top].items}:
                    raise ValueError(f"view '{view.name}' names unknown item field '{ref}'")
        for basis in self.legal_bases:
            for name in basis.views:
                if name not in view_names:
                    raise ValueError(f"legal basis '{basis.code}' names unknown view '{name}'")
        return self

    def view(self, name: str) -> ViewSpec | None:
        return next((v for v in self.views if v.name == name), None)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def legal_basis(self, code: str) -> LegalBasis | None:
        return next((b for b in self.legal_bases if b.code == code), None)

    def view_selection(self, view: str) -> dict[str, frozenset[str] | None]:
        """Top-level fields of a view, each with the item fields kept (None = the whole value)."""
        selection: dict[str, set[str] | None] = {}
        spec = self.view(view)
        if spec is None:
            raise KeyError(view)
        for ref in spec.fields:
            top, _, sub = ref.partition(".")
            if not sub:
                selection[top] = None
            elif top not in selection or selection[top] is not None:
                current = selection.get(top) or set()
                assert current is not None
                current.add(sub)
                selection[top] = current
        return {k: (frozenset(v) if v is not None else None) for k, v in selection.items()}


class BundleDocument(_Strict):
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    view: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    optional: bool = False  # asked for when the subject has one; its absence does not fail the bundle


class BundleSpec(_Strict):
    """A life event (moving house, a loan, ...) and the documents/views it needs under one consent."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    titles: dict[str, str]
    descriptions: dict[str, str]
    purpose_code: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    documents: tuple[BundleDocument, ...] = Field(min_length=1)

    _titles = field_validator("titles", "descriptions")(_check_titles)

    @model_validator(mode="after")
    def _documents_unique(self) -> BundleSpec:
        types = [d.type for d in self.documents]
        if len(set(types)) != len(types):
            raise ValueError("a bundle names each document type once")
        return self
