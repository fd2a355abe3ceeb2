"""Stamped e-documents for API clients: issue, fetch the PDF, verify, revoke, and the built-in TSA.

Each state-changing route works in the request's unit of work (``db: SessionDep``), committed by the
dependency before the response is sent. The public HTML ``/verify`` page lives in ``hub.web.verify_page``:
this module imports nothing from ``hub.web``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from consent import Actor
from hub.actors import client_actor
from hub.deps import ClientDep, SessionDep, StateDep
from hub.errors import Problem
from hub.issuance.download import pdf_response
from hub.issuance.schemas import (
    IssuanceOut,
    RevocationOut,
    RevokeRequest,
    VerificationOut,
    VerifyRequest,
)
from hub.issuance.tsa import QUERY_TYPE, REPLY_TYPE
from hub.ratelimit import limit_tsa, limit_verify
from hub.schemas import LookupRequest

router = APIRouter(tags=["issuance"])


def _problems(**codes: str) -> dict[int | str, dict[str, object]]:
    return {
        int(status[1:]): {"description": text, "content": {"application/problem+json": {}}}
        for status, text in codes.items()
    }


@router.post(
    "/v1/issuances",
    response_model=IssuanceOut,
    status_code=201,
    responses=_problems(
        s401="missing, expired or forged token",
        s403="the cited basis does not allow this document",
        s404="unknown document type, view or subject",
        s422="malformed body, resident number, or a document that cannot be issued",
        s503="holding agency, time-stamping authority or audit log unavailable",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LookupRequest"}}},
        }
    },
)
async def issue(
    request: Request,
    client: ClientDep,
    state: StateDep,
    db: SessionDep,
    language: Annotated[
        Literal["ko", "en", "ja", "zh", "th", "vi"],
        Query(description="the resident's language, shown beside the Korean original in the tagged PDF"),
    ] = "ko",
) -> IssuanceOut:
    """Issue a signed, time-stamped e-document (PDF + QR) of a spec-``issuable`` document.

    The body is a lookup body; the fields come through the audited lookup, and the issuance is audited too.
    The PDF is tagged (PDF/UA-1) in ``language`` with the Korean original.
    """
    body = await request.body()
    return await state.issuance.issue(db, client_actor(client), body, request.state.request_id, language)


@router.get(
    "/v1/issuances/{number}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the signed PDF"},
        **_problems(s404="no such issuance for this client", s410="past the retention window"),
    },
)
async def issuance_pdf(number: str, client: ClientDep, state: StateDep) -> Response:
    """The signed PDF, for the client that requested the issuance (within the retention window)."""
    return await pdf_response(state.issuance, client_actor(client), number)


@router.post(
    "/v1/issuances/{number}/revoke",
    response_model=RevocationOut,
    responses=_problems(
        s403="only agency clients may revoke",
        s404="no such issuance, or one another organisation issued",
        s409="already revoked",
        s422="malformed number or reason",
    ),
)
async def revoke(
    number: str, body: RevokeRequest, request: Request, client: ClientDep, state: StateDep, db: SessionDep
) -> RevocationOut:
    """Revoke an issuance with a reason; verifiers then see ``revoked``."""
    actor = client_actor(client)
    return await state.issuance.revoke(db, actor, number, body.reason, request.state.request_id)


def _optional_client(request: Request, state: StateDep) -> Actor | None:
    """Verification is public; a client that authenticates is named in the resident's history."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "invalid-token")
    return client_actor(state.tokens.verify(token.strip()))


@router.post(
    "/v1/verify",
    response_model=VerificationOut,
    response_model_exclude_none=True,
    responses=_problems(
        s401="an Authorization header was sent but is not a valid token",
        s422="malformed",
        s429="too many verifications from this address (or, with a token, this client)",
    ),
    dependencies=[Depends(limit_verify)],  # anonymous callers per address (hub.ratelimit)
)
async def verify(body: VerifyRequest, request: Request, state: StateDep, db: SessionDep) -> VerificationOut:
    """Is this e-document genuine? By QR payload (signature, then revocation) or by issuance number.

    Answers ``valid``, ``revoked``, ``expired``, ``unknown`` or (for a QR that fails its checks) ``invalid``,
    with a reason. By number alone: the status and what kind of document it is, nothing personal, and no audit
    event (anyone may ask; the service counts these). With the number *and* the check code printed beside it:
    the full record and, within the retention window, the content, an audit event the resident sees.
    """
    service = state.issuance
    if body.qr_payload is not None:
        return await service.verify_payload(body.qr_payload)
    assert body.issuance_number is not None
    return await service.verify_number(
        db, body.issuance_number, body.check, _optional_client(request, state), request.state.request_id
    )


@router.post(
    "/tsa",
    response_class=Response,
    tags=["operations"],
    dependencies=[Depends(limit_tsa)],  # public: per address (hub.ratelimit)
    openapi_extra={"requestBody": {"required": True, "content": {QUERY_TYPE: {}}}},
    responses={200: {"content": {REPLY_TYPE: {}}, "description": "TimeStampResp (RFC 3161 §2.4.2)"}},
)
async def timestamp(request: Request, state: StateDep) -> Response:
    """The built-in RFC 3161 time-stamping authority (HTTP transport as RFC 3161 §3.4)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != QUERY_TYPE:
        raise Problem(415, "unsupported-media-type", expected=QUERY_TYPE)
    body = await request.body()
    reply = await asyncio.to_thread(state.issuance.timestamp_reply, body)
    return Response(reply, media_type=REPLY_TYPE)


# Registered so the OpenAPI document carries the request schema referenced above.
ISSUANCE_SCHEMAS = (LookupRequest,)
