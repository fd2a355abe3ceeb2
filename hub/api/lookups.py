"""The lookup endpoint: a thin HTTP shell around the broker.

``POST /v1/lookups`` is the hub's hot path: ``serve`` answers it below FastAPI's routing
(``hub.api.hot_paths``), with the same token check, the same broker call in the same unit of work, and the
same problem+json on refusal. The FastAPI route below stays the published contract (OpenAPI) and answers the
same way through ``answer``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub.actors import client_actor
from hub.auth.tokens import ClientPrincipal
from hub.deps import ClientDep, SessionDep, StateDep, client_of
from hub.schemas import LookupResponse
from hub.state import HubState
from hub.uow import request_unit

PATH: Final = "/v1/lookups"
_SERIALIZER = LookupResponse.__pydantic_serializer__

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
async def create_lookup(request: Request, client: ClientDep, state: StateDep, db: SessionDep) -> Response:
    """Look up a subject's document under a statutory basis; every attempt is audited before any answer."""
    return await answer(request, state, db, client)


async def answer(request: Request, state: HubState, db: AsyncSession, client: ClientPrincipal) -> Response:
    """The broker's answer as JSON; the broker parses the body itself, so malformed attempts are audited."""
    body = await request.body()
    result = await state.broker.lookup_body(db, client_actor(client), body, request.state.request_id)
    return Response(_SERIALIZER.to_json(result), media_type="application/json")


async def serve(request: Request, state: HubState) -> Response:
    """``POST /v1/lookups`` for ``hub.api.hot_paths``, in the unit of work a route gets (``hub.uow``)."""
    async with request_unit(state.sessions) as session:
        return await answer(request, state, session, client_of(request, state))


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
