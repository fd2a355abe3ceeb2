"""Consent requests (bank flow), the resident's decisions, consents, receipts and mandates.

Clients create requests and list what was granted to them; residents (or their agents) decide, see a preview
of the actual values first, and pause, resume or revoke later. Every decision is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from audit import AuditEvent, AuditUnavailable
from consent import Actor, ConsentError, ConsentView, RequestView, Resident
from hub.auth.models import AccountRow, ClientRow
from hub.auth.tokens import AccountPrincipal
from hub.deps import ClientDep, ResidentDep, StateDep
from hub.errors import Problem
from hub.schemas import PurposeIn
from hub.state import HubState

router = APIRouter(tags=["consent"])
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]

_ERRORS: dict[str, tuple[int, str]] = {
    "request_not_found": (404, "consent-request-not-found"),
    "request_not_for_you": (403, "consent-request-not-for-you"),
    "consent_not_found": (404, "consent-not-found"),
    "link_used_or_expired": (410, "link-expired"),
}


def consent_problem(exc: ConsentError) -> Problem:
    if exc.code in _ERRORS:
        status, slug = _ERRORS[exc.code]
        return Problem(status, slug, extra={"reason": exc.code})
    if exc.code.startswith("request_"):
        return Problem(409, "consent-request-closed", extra={"reason": exc.code}, state=exc.code[8:])
    if exc.code.startswith("mandate_"):
        status = 404 if exc.code == "mandate_not_found" else 403
        return Problem(status, "mandate-invalid", extra={"reason": exc.code}, code=exc.code)
    return Problem(409, "consent-transition", extra={"reason": exc.code}, code=exc.code)


class DocumentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_type: str = Field(max_length=64)
    view: str = Field(max_length=64)


class ConsentRequestIn(BaseModel):
    """Name the documents, or a life-event bundle (one consent then covers all its documents)."""

    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentRef] = Field(default_factory=list, max_length=20)
    bundle: str | None = Field(default=None, max_length=64)
    purpose: PurposeIn
    mode: Literal["one_time", "standing"] = "one_time"
    consent_days: int = Field(default=30, ge=1, le=365)
    max_uses: int = Field(default=1, ge=1, le=1000)
    redirect_uri: str = Field(max_length=500)
    state: str | None = Field(default=None, max_length=200)


def check_documents(state: HubState, documents: list[DocumentRef]) -> list[dict[str, str]]:
    refs = []
    for doc in documents:
        spec = state.catalog.get(doc.document_type)
        if spec is None:
            raise Problem(404, "unknown-document-type", document_type=doc.document_type)
        if spec.view(doc.view) is None:
            raise Problem(404, "unknown-view", document_type=doc.document_type, view=doc.view)
        refs.append({"document_type": doc.document_type, "view": doc.view})
    return refs


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def request_json(view: RequestView, state: HubState) -> dict[str, Any]:
    return {
        "request_id": view.request_id,
        "status": view.status,
        "recipient_org": view.recipient_org,
        "documents": view.documents,
        "purpose": {"code": view.purpose_code, "text": view.purpose_text},
        "mode": view.mode,
        "consent_days": view.consent_days,
        "max_uses": view.max_uses,
        "expires_at": _iso(view.expires_at),
        "consent_id": view.consent_id,
        "approve_url": f"{state.settings.public_url}/consent/{view.request_id}",
    }


def consent_json(view: ConsentView) -> dict[str, Any]:
    return {
        "consent_id": view.consent_id,
        "state": view.state,
        "recipient": {"kind": view.recipient_kind, "id": view.recipient_id, "org": view.recipient_org},
        "documents": view.documents,
        "purpose": {"code": view.purpose_code, "text": view.purpose_text},
        "mode": view.mode,
        "starts_at": _iso(view.starts_at),
        "expires_at": _iso(view.expires_at),
        "max_uses": view.max_uses,
        "uses": view.uses,
        "last_used_at": _iso(view.last_used_at),
        "mandate_id": view.mandate_id,
    }


async def audit_decision(
    state: HubState,
    request: Request,
    account: AccountPrincipal,
    kind: str,
    subject_commitment: str,
    basis: str,
    reason: str | None = None,
) -> None:
    """Consent and mandate decisions are access-relevant events: fail closed like lookups."""
    try:
        await state.broker.audit.append(
            AuditEvent(
                kind=kind,
                actor_kind="resident",
                actor_id=account.account_id,
                actor_org=None,
                subject_commitment=subject_commitment,
                basis=basis,
                outcome="ok",
                reason=reason,
                request_id=request.state.request_id,
            )
        )
    except AuditUnavailable:
        raise Problem(503, "audit-unavailable", headers={"Retry-After": "5"}) from None


async def resident_self(state: HubState, account: AccountPrincipal) -> Resident:
    async with state.sessions() as session:
        row = await session.get(AccountRow, account.account_id)
    if row is None or not row.resident_number_enc or not row.subject_commitment:
        raise Problem(403, "role-required", role="resident")
    return Resident(row.account_id, row.subject_commitment, row.resident_number_enc)


def redirect_target(view: RequestView, params: dict[str, str]) -> str | None:
    if not view.redirect_uri:
        return None
    if view.state is not None:
        params = {**params, "state": view.state}
    return view.redirect_uri + ("&" if "?" in view.redirect_uri else "?") + urlencode(params)


# -- clients ----------------------------------------------------------------------------------------------


@router.post("/v1/consent-requests", status_code=201)
async def create_consent_request(body: ConsentRequestIn, client: ClientDep, state: StateDep) -> JSONResponse:
    """Ask a resident for consent; send them to ``approve_url``. They come back to ``redirect_uri``."""
    async with state.sessions() as session:
        registered = (
            await session.execute(
                select(ClientRow.redirect_uris).where(ClientRow.client_id == client.client_id)
            )
        ).scalar_one_or_none()
    if body.redirect_uri not in (registered or []):
        raise Problem(400, "redirect-uri-not-registered")
    refs = list(body.documents)
    if body.bundle is not None:
        bundle = state.broker.bundles.get(body.bundle)
        if bundle is None:
            raise Problem(404, "unknown-bundle", bundle=body.bundle)
        refs += [DocumentRef(document_type=d.type, view=d.view) for d in bundle.documents]
    if not refs:
        raise Problem(422, "validation-error", errors="documents or bundle (missing)")
    documents = check_documents(state, refs)
    view, _ = await state.broker.consent.create_request(
        requester_kind="client",
        requester_id=client.client_id,
        recipient_org=client.org,
        documents=documents,
        purpose_code=body.purpose.code,
        purpose_text=body.purpose.text,
        mode=body.mode,
        consent_days=body.consent_days,
        max_uses=body.max_uses,
        redirect_uri=body.redirect_uri,
        state=body.state,
    )
    return JSONResponse(request_json(view, state), status_code=201)


@router.get("/v1/consent-requests/{request_id}")
async def get_consent_request(request_id: UUID, client: ClientDep, state: StateDep) -> dict[str, Any]:
    view = await state.broker.consent.get_request(request_id)
    if view is None or view.requester_id != client.client_id:
        raise Problem(404, "consent-request-not-found")
    return request_json(view, state)


@router.get("/v1/consents")
async def client_consents(client: ClientDep, state: StateDep) -> dict[str, Any]:
    """Consents granted to the calling client (no subject data beyond the consent itself)."""
    views = await state.broker.consent.list_consents(recipient_id=client.client_id)
    return {"consents": [consent_json(v) for v in views]}


# -- residents --------------------------------------------------------------------------------------------


@router.get("/v1/me/consent-requests/{request_id}")
async def view_consent_request(
    request_id: UUID, request: Request, resident: ResidentDep, state: StateDep, preview: bool = False
) -> dict[str, Any]:
    """Who asks, for which fields, why and until when; with ``preview=true`` the actual values too."""
    view = await state.broker.consent.get_request(request_id)
    if view is None:
        raise Problem(404, "consent-request-not-found")
    if view.subject_commitment not in (None, resident.subject_commitment):
        raise Problem(403, "consent-request-not-for-you")
    body = request_json(view, state)
    body["documents"] = [describe_document(state, d) for d in view.documents]
    if preview and view.status == "pending":
        subject = await own_resident_number(state, resident)
        actor = Actor(kind="resident", id=resident.account_id, org="")
        body["preview"] = [
            (
                await state.broker.preview(
                    actor, subject, d["document_type"], d["view"], request.state.request_id
                )
            ).fields
            for d in view.documents
        ]
    return body


def describe_document(state: HubState, ref: dict[str, str]) -> dict[str, Any]:
    spec = state.catalog[ref["document_type"]]
    view = spec.view(ref["view"])
    assert view is not None
    fields = []
    for name in view.fields:
        top, _, sub = name.partition(".")
        field = spec.field(top)
        assert field is not None
        item = next((i for i in field.items if i.name == sub), None) if sub else None
        fields.append({"name": name, "titles": (item or field).titles, "sensitive": field.sensitive})
    return {
        **ref,
        "titles": spec.titles,
        "holder_titles": spec.holder_titles,
        "view_titles": view.titles,
        "fields": fields,
    }


async def own_resident_number(state: HubState, account: AccountPrincipal) -> str:
    """The signed-in resident's own number, unsealed only to fetch their own records (previews)."""
    me = await resident_self(state, account)
    return state.sealer.open(me.resident_number_sealed)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mandate_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")


async def decide(
    state: HubState,
    request: Request,
    account: AccountPrincipal,
    request_id: str,
    approve: bool,
    mandate_id: str | None,
) -> dict[str, Any]:
    service = state.broker.consent
    pending = await service.get_request(request_id)
    if pending is None:
        raise Problem(404, "consent-request-not-found")
    try:
        if mandate_id:
            principal = await service.mandate_for(
                mandate_id, account.account_id, [d["document_type"] for d in pending.documents]
            )
        else:
            principal = await resident_self(state, account)
        view, consent, receipt = await service.decide(
            request_id, principal, approve, acting_account=account.account_id, mandate_id=mandate_id
        )
    except ConsentError as exc:
        raise consent_problem(exc) from None
    basis = f"mandate:{mandate_id}" if mandate_id else "self"
    if consent is not None:
        await audit_decision(
            state,
            request,
            account,
            "consent_approve",
            principal.subject_commitment,
            basis,
            reason=f"consent:{consent.consent_id}",
        )
        target = redirect_target(view, {"consent_id": consent.consent_id})
    else:
        await audit_decision(
            state,
            request,
            account,
            "consent_deny",
            principal.subject_commitment,
            basis,
            reason=f"request:{view.request_id}",
        )
        target = redirect_target(view, {"error": "access_denied"})
    return {
        "request": request_json(view, state),
        "consent": consent_json(consent) if consent else None,
        "receipt": receipt,
        "redirect_to": target,
    }


@router.post("/v1/me/consent-requests/{request_id}/approve")
async def approve_request(
    request_id: UUID, body: DecisionIn, request: Request, resident: ResidentDep, state: StateDep
) -> dict[str, Any]:
    """Approve (for yourself, or for a principal citing a mandate); returns the receipt and where to go."""
    return await decide(state, request, resident, request_id, True, body.mandate_id)


@router.post("/v1/me/consent-requests/{request_id}/deny")
async def deny_request(
    request_id: UUID, body: DecisionIn, request: Request, resident: ResidentDep, state: StateDep
) -> dict[str, Any]:
    return await decide(state, request, resident, request_id, False, body.mandate_id)


@router.get("/v1/me/consents")
async def my_consents(resident: ResidentDep, state: StateDep) -> dict[str, Any]:
    """My consents with their state, use count and last use."""
    assert resident.subject_commitment is not None
    views = await state.broker.consent.list_consents(subject_commitment=resident.subject_commitment)
    return {"consents": [consent_json(v) for v in views]}


@router.post("/v1/me/consents/{consent_id}/{action}")
async def change_consent(
    consent_id: UUID,
    action: Literal["pause", "resume", "revoke"],
    request: Request,
    resident: ResidentDep,
    state: StateDep,
) -> dict[str, Any]:
    """Pause, resume or revoke; takes effect for the next lookup. Revoking returns a receipt."""
    assert resident.subject_commitment is not None
    try:
        view, receipt = await state.broker.consent.change(
            consent_id, resident.subject_commitment, action, resident.account_id
        )
    except ConsentError as exc:
        raise consent_problem(exc) from None
    await audit_decision(
        state,
        request,
        resident,
        f"consent_{action}",
        resident.subject_commitment,
        "self",
        reason=f"consent:{consent_id}",
    )
    return {"consent": consent_json(view), "receipt": receipt}


@router.get("/v1/me/consents/{consent_id}/receipts")
async def consent_receipts(consent_id: UUID, resident: ResidentDep, state: StateDep) -> dict[str, Any]:
    """Signed receipts (compact JWS, verifiable with the JWKS at /.well-known/gongyu/keys)."""
    assert resident.subject_commitment is not None
    try:
        receipts = await state.broker.consent.receipts(consent_id, resident.subject_commitment)
    except ConsentError as exc:
        raise consent_problem(exc) from None
    return {"receipts": receipts}


class MandateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_username: str = Field(min_length=1, max_length=64)
    document_types: list[str] = Field(min_length=1, max_length=20)
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Without an offset it is UTC; with one it must still be a representable instant once in UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("expires_at is out of range once converted to UTC") from None


@router.post("/v1/me/mandates", status_code=201)
async def grant_mandate(
    body: MandateIn, request: Request, resident: ResidentDep, state: StateDep
) -> JSONResponse:
    """Let another resident approve requests and request documents for me, for these types, until a date."""
    for document_type in body.document_types:
        if document_type not in state.catalog:
            raise Problem(404, "unknown-document-type", document_type=document_type)
    async with state.sessions() as session:
        agent = (
            await session.execute(
                select(AccountRow).where(
                    AccountRow.username == body.agent_username, AccountRow.role == "resident"
                )
            )
        ).scalar_one_or_none()
    if agent is None:
        raise Problem(404, "agent-not-found")
    principal = await resident_self(state, resident)
    expires = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
    try:
        mandate = await state.broker.consent.grant_mandate(
            principal, agent.account_id, body.document_types, expires
        )
    except ConsentError as exc:
        raise consent_problem(exc) from None
    await audit_decision(
        state,
        request,
        resident,
        "mandate_grant",
        principal.subject_commitment,
        f"mandate:{mandate['mandate_id']}",
    )
    return JSONResponse(mandate, status_code=201)


@router.get("/v1/me/mandates")
async def my_mandates(resident: ResidentDep, state: StateDep) -> dict[str, Any]:
    """Mandates I granted and mandates I hold as an agent."""
    return {"mandates": await state.broker.consent.list_mandates(resident.account_id)}


@router.post("/v1/me/mandates/{mandate_id}/revoke")
async def revoke_mandate(
    mandate_id: UUID, request: Request, resident: ResidentDep, state: StateDep
) -> dict[str, Any]:
    assert resident.subject_commitment is not None
    try:
        mandate = await state.broker.consent.revoke_mandate(mandate_id, resident.account_id)
    except ConsentError as exc:
        raise consent_problem(exc) from None
    await audit_decision(
        state, request, resident, "mandate_revoke", resident.subject_commitment, f"mandate:{mandate_id}"
    )
    return mandate
