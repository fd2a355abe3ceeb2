"""The offline hand-off over HTTP: the phone gets its application sealed for a counter, which decodes it.

``POST /v1/me/applications/{id}/handoff`` gives the applicant the QR code texts of their application, signed
by the hub and encrypted to the named counter's key (the counter must have one; a hand-off leaving the hub is
an audit event with its ``jti``).

``POST /v1/counter/handoff/decode`` takes what the counter scanned, either the codes' texts (a camera with
``BarcodeDetector`` reads them in the browser) or the pictures themselves (base64 PNG/JPEG, read here with
zxing-cpp), for the official's own counter (one key pair per office, ``counter_id_for(org)``). It answers the
application once; a forged, altered, expired or replayed hand-off is refused with a problem+json naming the
reason (``reason``), and recorded either way. ``GET /v1/counter/handoff/keys/{counter_id}`` publishes a
counter's public key (JWK) for the phone page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.actors import account_actor
from hub.applications.files import FileActor
from hub.applications.handoff import CHUNK_CHARS, MAX_CHUNKS, SEALED_KEYS, counter_id_for, read_png
from hub.applications.views import application_json
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, ResidentDep, SessionDep, StateDep
from hub.errors import Problem

router = APIRouter(tags=["applications"])

Chunk = Annotated[str, StringConstraints(min_length=1, max_length=CHUNK_CHARS + 64)]
# The request body is capped at 64 KiB (hub/body_limit.py): plenty for the codes a phone screen shows.
Picture = Annotated[str, StringConstraints(min_length=1, max_length=60_000)]


class DecodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunks: list[Chunk] = Field(default_factory=list, max_length=2 * MAX_CHUNKS)
    images: list[Picture] = Field(default_factory=list, max_length=MAX_CHUNKS)


class DecodeOut(BaseModel):
    application: dict[str, Any]
    jti: str
    issued_at: datetime
    expires_at: datetime
    counter_id: str
    audit_event_id: str


async def current_official(account: AccountDep) -> AccountPrincipal:
    if account.role != "official" or not account.org:
        raise Problem(403, "role-required", role="official")
    return account


OfficialDep = Annotated[AccountPrincipal, Depends(current_official)]


def _problems(**codes: str) -> dict[int | str, dict[str, object]]:
    return {
        int(status[1:]): {"description": text, "content": {"application/problem+json": {}}}
        for status, text in codes.items()
    }


@router.post(
    "/v1/counter/handoff/decode",
    response_model=DecodeOut,
    responses=_problems(
        s401="missing, expired or forged token",
        s403="not a counter official",
        s409="this hand-off was decoded before (replay)",
        s413="a picture too large",
        s415="a picture that is not PNG or JPEG",
        s422="unreadable, incomplete, forged, altered or expired hand-off",
    ),
)
async def decode(
    body: DecodeIn, request: Request, official: OfficialDep, state: StateDep, db: SessionDep
) -> DecodeOut:
    """Decode a hand-off for the caller's counter: decrypt, verify the hub's signature and freshness, once."""
    chunks = list(body.chunks)
    for encoded in body.images:
        try:
            picture = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(422, "validation-error", errors="images (base64)") from None
        chunks.extend(await asyncio.to_thread(read_png, picture))  # Pillow and zxing-cpp are CPU-bound
    counter_id = counter_id_for(official.org or "")
    actor = FileActor.of(account_actor(official))
    opened = await state.handoff.open(
        db, chunks, counter_id=counter_id, actor=actor, request_id=request.state.request_id
    )
    return DecodeOut(
        application=opened.application,
        jti=opened.jti,
        issued_at=opened.issued_at,
        expires_at=opened.expires_at,
        counter_id=counter_id,
        audit_event_id=opened.event_id,
    )


class HandoffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counter_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")


class HandoffOut(BaseModel):
    counter_id: str
    chunks: list[str]
    jti: str
    issued_at: datetime
    expires_at: datetime


@router.post(
    "/v1/me/applications/{application_id}/handoff",
    response_model=HandoffOut,
    responses=_problems(s404="no such application of mine, or no such counter"),
)
async def seal_for_counter(
    application_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
    body: HandoffIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> HandoffOut:
    """My application as QR texts for an offline counter: signed by the hub, readable by that counter only.

    Each text is one QR code (``GYH1:<id>:<index>:<count>:<part>``); they expire after ten minutes and are
    accepted once.
    """
    row, _ = await state.applications.case(db, resident, application_id)
    shown = application_json(row, state.applications.form(row.form_type), state.sealer)
    sealed = await state.handoff.issue(
        db,
        {key: shown[key] for key in SEALED_KEYS},
        body.counter_id,
        actor=FileActor.of(account_actor(resident)),
        request_id=request.state.request_id,
        subject_commitment=row.subject_commitment,
    )
    return HandoffOut(
        counter_id=body.counter_id,
        chunks=sealed.chunks,
        jti=sealed.jti,
        issued_at=sealed.issued_at,
        expires_at=sealed.expires_at,
    )


@router.get("/v1/counter/handoff/keys/{counter_id}", responses=_problems(s404="no such counter"))
async def counter_key(
    counter_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9-]+$")], state: StateDep
) -> dict[str, Any]:
    """A counter's public key (JWK, ECDH-ES): what a hand-off for that counter is encrypted to."""
    jwk = await asyncio.to_thread(state.handoff.counter_public_jwk, counter_id, create=False)
    if jwk is None:
        raise Problem(404, "not-found")
    return jwk
