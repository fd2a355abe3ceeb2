"""Consent requests (bank flow), the resident's decisions, consents, receipts and mandates.

Clients create requests and list what was granted to them; residents (or their agents) decide, see a preview
of the actual values first, and pause, resume or revoke later. The flows live in ``hub.consents.ConsentApp``
(shared with the pages); these routes only translate HTTP. Every change is audited in the request's
transaction (``SessionDep``): if the audit write fails, the change did not happen.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from hub.actors import account_actor
from hub.consents import ConsentRequestIn, DecisionIn, MandateIn
from hub.consents.service import consent_json
from hub.deps import ClientDep, ResidentDep, SessionDep, StateDep
from hub.errors import Problem

router = APIRouter(tags=["consent"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


# -- clients ----------------------------------------------------------------------------------------------


@router.post("/v1/consent-requests", status_code=201)
async def create_consent_request(
    body: ConsentRequestIn, request: Request, client: ClientDep, state: StateDep, db: SessionDep
) -> JSONResponse:
    """Ask a resident for consent; send them to ``approve_url``. They come back to ``redirect_uri``."""
    view = await state.consent.create_client_request(db, client, body, request.state.request_id)
    return JSONResponse(state.consent.request_json(view), status_code=201)


@router.get("/v1/consent-requests/{request_id}")
async def get_consent_request(
    request_id: UUID, client: ClientDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    view = await state.consent.get_request(db, request_id)
    if view is None or view.requester_id != client.client_id:
        raise Problem(404, "consent-request-not-found")
    return state.consent.request_json(view)


@router.get("/v1/consents")
async def client_consents(client: ClientDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """Consents granted to the calling client (no subject data beyond the consent itself)."""
    views = await state.consent.consents_of_recipient(db, client.client_id)
    return {"consents": [consent_json(v) for v in views]}


# -- residents --------------------------------------------------------------------------------------------


@router.get("/v1/me/consent-requests/{request_id}")
async def view_consent_request(
    request_id: UUID,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
    preview: bool = False,
) -> dict[str, Any]:
    """Who asks, for which fields, why and until when; with ``preview=true`` the actual values too."""
    view = await state.consent.get_request(db, request_id)
    if view is None:
        raise Problem(404, "consent-request-not-found")
    if view.subject_commitment not in (None, resident.subject_commitment):
        raise Problem(403, "consent-request-not-for-you")
    if view.requester_kind == "client":  # a counter's request is announced on the phone it is bound to
        await state.consent.announce_request(db, resident, view, request.state.request_id)
    body = state.consent.request_json(view)
    body["documents"] = [state.consent.describe_document(d) for d in view.documents]
    if preview and view.status == "pending":
        me = await state.consent.resident_self(db, resident)
        subject = state.sealer.open(me.resident_number_sealed)
        actor = account_actor(resident)
        body["preview"] = [
            (
                await state.broker.preview(
                    db, actor, subject, d["document_type"], d["view"], request.state.request_id
                )
            ).fields
            for d in view.documents
        ]
    return body


@router.post("/v1/me/consent-requests/{request_id}/approve")
async def approve_request(
    request_id: UUID,
    body: DecisionIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Approve (for yourself, or for a principal citing a mandate); returns the receipt and where to go."""
    decided = await state.consent.decide(
        db, resident, request_id, True, body.mandate_id, request.state.request_id
    )
    return decided.as_json()


@router.post("/v1/me/consent-requests/{request_id}/deny")
async def deny_request(
    request_id: UUID,
    body: DecisionIn,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    decided = await state.consent.decide(
        db, resident, request_id, False, body.mandate_id, request.state.request_id
    )
    return decided.as_json()


@router.get("/v1/me/consents")
async def my_consents(resident: ResidentDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """My consents with their state, use count and last use."""
    assert resident.subject_commitment is not None
    views = await state.consent.consents_of_subject(db, resident.subject_commitment)
    return {"consents": [consent_json(v) for v in views]}


@router.post("/v1/me/consents/{consent_id}/{action}")
async def change_consent(
    consent_id: UUID,
    action: Literal["pause", "resume", "revoke"],
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> dict[str, Any]:
    """Pause, resume or revoke; takes effect for the next lookup. Revoking returns a receipt."""
    view, receipt = await state.consent.change(db, resident, consent_id, action, request.state.request_id)
    return {"consent": consent_json(view), "receipt": receipt}


@router.get("/v1/me/consents/{consent_id}/receipts")
async def consent_receipts(
    consent_id: UUID, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    """Signed receipts (compact JWS, verifiable with the JWKS at /.well-known/gongyu/keys)."""
    return {"receipts": await state.consent.receipts(db, resident, consent_id)}


@router.post("/v1/me/mandates", status_code=201)
async def grant_mandate(
    body: MandateIn, request: Request, resident: ResidentDep, state: StateDep, db: SessionDep
) -> JSONResponse:
    """Let another resident approve requests and request documents for me, for these types, until a date."""
    mandate = await state.consent.grant_mandate(db, resident, body, request.state.request_id)
    return JSONResponse(mandate, status_code=201)


@router.get("/v1/me/mandates")
async def my_mandates(resident: ResidentDep, state: StateDep, db: SessionDep) -> dict[str, Any]:
    """Mandates I granted and mandates I hold as an agent."""
    return {"mandates": await state.consent.mandates(db, resident.account_id)}


@router.post("/v1/me/mandates/{mandate_id}/revoke")
async def revoke_mandate(
    mandate_id: UUID, request: Request, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, Any]:
    return await state.consent.revoke_mandate(db, resident, mandate_id, request.state.request_id)
