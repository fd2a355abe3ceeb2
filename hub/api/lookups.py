"""The lookup endpoint: a thin HTTP shell around the broker.

``POST /v1/lookups`` is the hub's hot path, and FastAPI's machinery around a route (dependency solving, the
response model's second validation, its encoder, the router's exception and exit-stack layers) cost more CPU
than the lookup's own work. ``LookupEndpoint`` answers it in plain ASGI, inside every project middleware (the
request id and access log, the body cap, the NUL check of path and query, the security headers), with the same
token check, the same broker call in the same unit of work, and the same problem+json on refusal. The FastAPI
route below stays the published contract (OpenAPI) and answers the same way through ``answer``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.actors import client_actor
from hub.auth.tokens import ClientPrincipal
from hub.deps import ClientDep, SessionDep, StateDep, client_of
from hub.errors import Problem, problem_response
from hub.schemas import LookupResponse
from hub.state import HubState
from hub.uow import commit_now, release

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


class LookupEndpoint:
    """``POST /v1/lookups`` without FastAPI's routing layers; every other request passes through untouched.

    The unit of work is the one ``hub.deps.request_session`` gives a route: committed before the response is
    sent, rolled back on any exception, and closed only when it still holds a transaction.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        state: HubState = scope["app"].state.hub
        session = state.sessions()
        try:
            try:
                response = await answer(request, state, session, client_of(request, state))
            except BaseException:
                if session.in_transaction():
                    await session.rollback()
                raise
            if session.in_transaction():
                await commit_now(session)  # a failure has rolled back already and raises the fail-closed 503
        except Problem as problem:
            response = problem_response(
                request, problem.status, problem.slug, headers=problem.headers, extra=problem.extra,
                **problem.params,
            )  # fmt: skip
        finally:
            await release(session)
        await response(scope, receive, send)


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
