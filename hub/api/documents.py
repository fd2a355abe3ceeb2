"""Public description of the document catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from document_specs.model import DocumentSpec
from hub.deps import StateDep
from hub.errors import Problem

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _describe(spec: DocumentSpec) -> dict[str, Any]:
    data = spec.model_dump(exclude={"query", "adapter"})
    return data


@router.get("")
async def list_documents(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    return {"documents": [_describe(s) for s in state.catalog.values()]}


@router.get("/{document_type}")
async def get_document(document_type: str, state: StateDep) -> dict[str, Any]:
    spec = state.catalog.get(document_type)
    if spec is None:
        raise Problem(404, "unknown-document-type", document_type=document_type[:64])
    return _describe(spec)
