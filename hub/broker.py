"""The audited lookup: the one path by which a document's fields leave the hub.

Order matters and is the point of this module: authorise, fetch with a timeout, keep only the view's fields,
make the audit event durable, and only then answer. Every attempt, refused or failed, is audited too, with a
reason code; if the audit append fails nothing is returned (fail closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from adapters.base import AgencyError
from adapters.registry import AdapterRegistry
from audit import AuditEvent, AuditLog, AuditUnavailable, EventRef, SubjectCommitter
from audit.events import Outcome, iso, utcnow
from consent import Actor, Basis, ConsentService
from document_specs.loader import SpecCatalog
from document_specs.model import DocumentSpec, FieldSpec
from hub import resident_number
from hub.errors import Problem
from hub.schemas import AuditRefOut, LookupRequest, LookupResponse


@dataclass(frozen=True)
class _Attempt:
    actor: Actor
    request_id: str
    subject_commitment: str | None = None
    document_type: str | None = None
    view: str | None = None
    purpose_code: str | None = None
    purpose_text: str | None = None
    basis: str | None = None


def _coerce(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "date":
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    if spec.type == "integer":
        return int(value)
    if spec.type == "boolean":
        return bool(value)
    return value


def minimize(document: DocumentSpec, view: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Keep exactly the view's fields (and, for lists, the view's item fields) in the spec's types."""
    out: dict[str, Any] = {}
    for name, keep in document.view_selection(view).items():
        spec = document.field(name)
        assert spec is not None  # guaranteed by spec validation
        value = record.get(name)
        if spec.type == "list":
            items = {i.name: i for i in spec.items}
            chosen = keep if keep is not None else frozenset(items)
            out[name] = [
                {k: _coerce(items[k], entry.get(k)) for k in items if k in chosen} for entry in (value or [])
            ]
        else:
            out[name] = _coerce(spec, value)
    return out


def released_field_names(document: DocumentSpec, view: str) -> tuple[str, ...]:
    names: list[str] = []
    for name, keep in document.view_selection(view).items():
        names.extend([name] if keep is None else sorted(f"{name}.{k}" for k in keep))
    return tuple(names)


class Broker:
    def __init__(
        self,
        catalog: SpecCatalog,
        adapters: AdapterRegistry,
        consent: ConsentService,
        audit: AuditLog,
        committer: SubjectCommitter,
    ) -> None:
        self.catalog = catalog
        self.adapters = adapters
        self.consent = consent
        self.audit = audit
        self.committer = committer

    async def _record(
        self, attempt: _Attempt, outcome: Outcome, reason: str, fields: tuple[str, ...] = ()
    ) -> EventRef:
        event = AuditEvent(
            kind="lookup",
            actor_kind="client" if attempt.actor.kind == "client" else "official",
            actor_id=attempt.actor.id,
            actor_org=attempt.actor.org,
            subject_commitment=attempt.subject_commitment,
            document_type=attempt.document_type,
            view=attempt.view,
            fields=fields,
            purpose_code=attempt.purpose_code,
            purpose_text=attempt.purpose_text,
            basis=attempt.basis,
            outcome=outcome,
            reason=reason,
            request_id=attempt.request_id,
        )
        try:
            return await self.audit.append(event)
        except AuditUnavailable:
            raise Problem(503, "audit-unavailable", headers={"Retry-After": "5"}) from None

    async def _refuse(self, attempt: _Attempt, outcome: Outcome, reason: str, problem: Problem) -> Problem:
        ref = await self._record(attempt, outcome, reason)
        problem.extra.setdefault("audit_event_id", ref.event_id)
        return problem

    async def lookup(self, actor: Actor, body: bytes, request_id: str) -> LookupResponse:
        attempt = _Attempt(actor=actor, request_id=request_id)
        try:
            request = LookupRequest.model_validate_json(body)
        except ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'} ({e['type']})" for e in exc.errors()[:5]
            )
            raise await self._refuse(
                attempt, "invalid", "malformed_request", Problem(422, "validation-error", errors=errors)
            ) from None

        purpose = request.purpose_in()
        attempt = _Attempt(
            actor=actor,
            request_id=request_id,
            document_type=request.document_type,
            view=request.view,
            purpose_code=purpose.code,
            purpose_text=purpose.text,
            basis=Basis(statute=request.basis.statute).describe(),
        )
        try:
            subject = resident_number.normalize(request.subject.resident_number)
        except resident_number.InvalidResidentNumber:
            raise await self._refuse(
                attempt, "invalid", "malformed_resident_number", Problem(422, "invalid-resident-number")
            ) from None
        commitment = self.committer.commit(subject)
        attempt = _Attempt(**{**attempt.__dict__, "subject_commitment": commitment})

        document = self.catalog.get(request.document_type)
        if document is None:
            raise await self._refuse(
                attempt,
                "invalid",
                "unknown_document_type",
                Problem(404, "unknown-document-type", document_type=request.document_type),
            )
        if document.view(request.view) is None:
            raise await self._refuse(
                attempt,
                "invalid",
                "unknown_view",
                Problem(404, "unknown-view", document_type=document.type, view=request.view),
            )

        basis = Basis(statute=request.basis.statute)
        decision = await self.consent.authorize(
            actor, commitment, document, request.view, purpose.code, basis
        )
        attempt = _Attempt(**{**attempt.__dict__, "basis": decision.basis})
        if not decision.allowed:
            raise await self._refuse(
                attempt,
                "denied",
                decision.reason,
                Problem(
                    403,
                    "basis-not-allowed",
                    extra={"reason": decision.reason},
                    statute=basis.statute,
                    client_kind=actor.client_kind,
                    view=request.view,
                    document_type=document.type,
                ),
            )

        fields = released_field_names(document, request.view)
        adapter = self.adapters[document.adapter]
        try:
            record = await adapter.fetch(
                document.query, subject, document.view_selection(request.view).keys()
            )
        except AgencyError as exc:
            raise await self._refuse(
                attempt,
                "agency_error",
                exc.reason.split(":")[0],
                Problem(503, "agency-unavailable", headers={"Retry-After": "10"}, agency=exc.agency),
            ) from None
        if record is None:
            raise await self._refuse(
                attempt, "not_found", "subject_not_found", Problem(404, "subject-not-found")
            )

        released = minimize(document, request.view, record)
        fetched_at = utcnow()
        ref = await self._record(attempt, "ok", "allowed", fields)
        return LookupResponse(
            lookup_id=str(uuid.uuid4()),
            document_type=document.type,
            view=request.view,
            holder=document.holder,
            fetched_at=iso(fetched_at),
            fields=released,
            audit=AuditRefOut(event_id=ref.event_id),
        )
