"""Public description of the document catalog and of the life-event bundles built from it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from document_specs.loader import SpecCatalog
from document_specs.model import BundleSpec, DocumentSpec
from hub.deps import StateDep
from hub.errors import Problem
from hub.resident_number import contains_resident_number

router = APIRouter(tags=["documents"])

def _describe(spec: DocumentSpec) -> dict[str, Any]:
    data = spec.model_dump(exclude={"query", "adapter"})
    return data


def _describe_bundle(bundle: BundleSpec, catalog: SpecCatalog) -> dict[str, Any]:
    data = bundle.model_dump()
    for document in data["documents"]:
        spec = catalog[document["type"]]
        document["titles"] = spec.titles
        document["holder"] = spec.holder
    return data


@router.get("/v1/documents")
async def list_documents(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    return {"documents": [_describe(s) for s in state.catalog.values()]}


@router.get("/v1/documents/{document_type}")
async def get_document(document_type: str, state: StateDep) -> dict[str, Any]:
    spec = state.catalog.get(document_type)
    if spec is None:
        # The path is client input: name it back only if it cannot be a resident number.
        shown = "(hidden)" if contains_resident_number(document_type) else document_type[:64]
        raise Problem(404, "unknown-document-type", document_type=shown)
    return _describe(spec)


@router.get("/v1/bundles")
async def list_bundles(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    """Life events (moving house, a loan, ...) and the documents/views each needs."""
    return {"bundles": [_describe_bundle(b, state.catalog) for b in state.bundles.values()]}


@router.get("/v1/bundles/{bundle_id}")
async def get_bundle(bundle_id: str, state: StateDep) -> dict[str, Any]:
    bundle = state.bundles.get(bundle_id)
    if bundle is None:
        raise Problem(404, "not-found")
    return _describe_bundle(bundle, state.catalog)
