"""The lookup endpoint: a thin HTTP shell around the broker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hub.actors import client_actor
from hub.deps import ClientDep, SessionDep, StateDep
from hub.schemas import LookupResponse

router = APIRouter(prefix="/v1", tags=["lookups"])

_ERRORS = {
    status: {"description": text, "content": {"application/problem+json": {}}}
    for status, text in {
        401: "missing, expired or forged token",
        403: "the cited basis does not allow this lookup",
        404: "unknown document type, view or subject",
        422: "malformed body or resident number",
        503: "holding agency or audit log unavailable",
    }.items()
}


@router.post(
    "/lookups",
    response_model=LookupResponse,
    responses=_ERRORS,  # type: ignore[arg-type]
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LookupRequest"}}},
        }
    },
)
async def create_lookup(
    request: Request, client: ClientDep, state: StateDep, db: SessionDep
) -> LookupResponse:
    """Look up a subject's document under a statutory basis; every attempt is audited before any answer."""
    # The body is parsed by the broker, not FastAPI, so malformed attempts are audited too.
    body = await request.body()
    return await state.broker.lookup_body(db, client_actor(client), body, request.state.request_id)


@router.post(
    "/lookups/bundle",
    responses=_ERRORS,  # type: ignore[arg-type]
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BundleLookupRequest"}}},
        }
    },
)
async def create_bundle_lookup(request: Request, client: ClientDep, state: StateDep) -> dict[str, Any]:
    """Every document of a life-event bundle under one basis, fetched concurrently, each audited alone."""
    body = await request.body()
    return await state.broker.lookup_bundle(client_actor(client), body, request.state.request_id)
