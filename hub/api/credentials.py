"""SD-JWT VCs the resident holds: issue to the signed-in resident, list and revoke them; the public status
list, the issuer metadata (JWKS) and a verifier's check of a presentation.

The flows live in ``hub.credentials.service`` (shared with the ``/credentials/verify`` page); these routes
translate HTTP. Issuance and revocation work in the request's unit of work (``SessionDep``): the audit event
and the credential's row commit together before the answer is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.credentials.service import TYP, credential_json
from hub.credentials.status_list import TTL_SECONDS
from hub.credentials.status_list import TYP as STATUS_LIST_TYP
from hub.deps import ResidentDep, SessionDep, StateDep
from hub.ratelimit import limit_verify

router = APIRouter(tags=["credentials"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    view: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    holder_jwk: dict[str, Any] = Field(description="the wallet's P-256 public key (goes into cnf.jwk)")


class PresentationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presentation: str = Field(min_length=1, max_length=64 * 1024)
    audience: str = Field(min_length=1, max_length=500)
    nonce: str = Field(min_length=1, max_length=200)


def _problems(**codes: str) -> dict[int | str, dict[str, object]]:
    return {
        int(status[1:]): {"description": text, "content": {"application/problem+json": {}}}
        for status, text in codes.items()
    }


@router.post(
    "/v1/me/credentials",
    status_code=201,
    responses=_problems(
        s401="not signed in",
        s403="not a resident",
        s404="unknown document type or view, or no record",
        s422="malformed body, holder key, or a document that cannot be issued",
        s503="holding agency or audit log unavailable, or no issuer key",
    ),
)
async def issue_credential(
    body: CredentialIn, request: Request, resident: ResidentDep, state: StateDep, db: SessionDep
) -> JSONResponse:
    """My own record as an SD-JWT VC bound to my wallet's key; every field selectively disclosable."""
    me = await state.consent.resident_self(db, resident)
    subject = state.sealer.open(me.resident_number_sealed)  # only to fetch my records, only for this request
    issued = await state.credentials.issue(
        db, resident, subject, body.document_type, body.view, body.holder_jwk, request.state.request_id
    )
    return JSONResponse(issued.as_json(), status_code=201)


@router.get("/v1/me/credentials")
async def my_credentials(resident: ResidentDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """The credentials issued to me, newest first, each valid or revoked (their content stays with me)."""
    return {"credentials": [credential_json(r) for r in await state.credentials.of_account(db, resident)]}


@router.post(
    "/v1/me/credentials/{credential_id}/revoke",
    responses=_problems(s404="no such credential of mine", s409="already revoked"),
)
async def revoke_credential(
    credential_id: UUID, request: Request, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    """Revoke one of my credentials: verifiers see ``revoked`` from the status list once this returns."""
    row = await state.credentials.revoke(db, resident, credential_id, request.state.request_id)
    return credential_json(row)


@router.get(
    "/v1/credentials/status-lists/{list_id}",
    response_class=Response,
    responses={200: {"content": {f"application/{STATUS_LIST_TYP}": {}}, "description": "status list token"}},
)
async def status_list_token(
    list_id: Annotated[str, Path(pattern=r"^[0-9]{1,8}$")], state: StateDep, db: SessionDep
) -> Response:
    """The IETF Token Status List of the credentials (public: one bit per credential, no names)."""
    token = await state.credentials.status_token(db, list_id)
    return Response(
        token,
        media_type=f"application/{STATUS_LIST_TYP}",
        headers={"Cache-Control": f"public, max-age={TTL_SECONDS}"},
    )


@router.get("/.well-known/jwt-vc-issuer")
async def issuer_metadata(state: StateDep) -> dict[str, Any]:
    """SD-JWT VC issuer metadata: the issuer and the JWKS its credentials and status lists verify against."""
    return {"issuer": state.credentials.issuer, "jwks": {"keys": state.credentials.jwks()}}


@router.post(
    "/v1/credentials/verify",
    responses=_problems(
        s409="the key-binding JWT was already presented",
        s422="malformed, forged, altered, for another verifier or challenge, stale, or expired",
        s429="too many verifications from this address",
    ),
    dependencies=[Depends(limit_verify)],
)
async def verify_presentation(body: PresentationIn, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """Check a presentation (``SD-JWT~disclosures~KB-JWT``) made for ``audience`` and ``nonce``.

    Answers ``valid`` with only the disclosed claims, or ``revoked``; every failed check is its own problem.
    """
    verified = await state.credentials.verify(db, body.presentation, body.audience, body.nonce)
    return {"format": TYP, **verified.as_json()}
