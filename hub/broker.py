"""The audited lookup: the one path by which a document's fields leave the hub.

Order matters and is the point of this module: authorise, fetch with a timeout, keep only the view's fields,
make the audit event durable, and only then answer. Every attempt, refused or failed, is audited too, with a
reason code; if the audit append fails nothing is returned (fail closed).

The broker works in the request's session (the unit of work of ``hub.uow``) but, unlike other services,
commits it itself, twice at most: it ends the read transaction before contacting the holding agency (no
connection is held while an agency answers), and it commits the consent use with the audit event before
any field is handed back. That explicit commit is the fail-closed point of the whole hub.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.base import AgencyError
from adapters.registry import AdapterRegistry
from audit import AuditEvent, EventRef, SubjectCommitter
from audit.events import Outcome, iso, utcnow
from consent import Actor, Basis, ConsentService, Decision
from document_specs.loader import SpecCatalog
from document_specs.model import BundleSpec, DocumentSpec, FieldSpec
from hub import resident_number
from hub.actors import event_actor
from hub.errors import Problem, describe_validation
from hub.schemas import AuditRefOut, BundleLookupRequest, LookupRequest, LookupResponse, PurposeIn
from hub.uow import AuditUnavailableProblem, Trail, commit_now, fail_closed

_OUTCOMES = {404: "not_found", 502: "agency_error", 503: "agency_error", 422: "invalid"}


@dataclass(frozen=True)
class Released:
    """An answered lookup with its subject commitment, the basis the decision named and the purpose."""

    response: LookupResponse
    subject_commitment: str
    basis: str
    purpose: PurposeIn


@dataclass(frozen=True)
class _Attempt:
    actor: Actor
    request_id: str
    kind: str = "lookup"
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
    """Lookups only: one document (typed request), a bundle, or a resident's own data (preview)."""

    def __init__(
        self,
        catalog: SpecCatalog,
        adapters: AdapterRegistry,
        consent: ConsentService,
        trail: Trail,
        committer: SubjectCommitter,
        sessions: async_sessionmaker[AsyncSession],
        bundles: Mapping[str, BundleSpec] | None = None,
    ) -> None:
        self.sessions = sessions
        engine = sessions.kw.get("bind")
        # Checks that only read (a consent's scope and state) autocommit: one SELECT, not BEGIN+SELECT+COMMIT.
        self.reads = (
            async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
            if isinstance(engine, AsyncEngine)
            else sessions
        )
        self.bundles = dict(bundles or {})
        self.catalog = catalog
        self.adapters = adapters
        self.consent = consent
        self.trail = trail
        self.committer = committer

    def _event(
        self, attempt: _Attempt, outcome: Outcome, reason: str, fields: tuple[str, ...] = ()
    ) -> AuditEvent:
        return AuditEvent(
            kind=attempt.kind,
            **event_actor(attempt.actor),
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

    async def _refuse(
        self, session: AsyncSession, attempt: _Attempt, outcome: Outcome, reason: str, problem: Problem
    ) -> Problem:
        """Record a refused or failed attempt durably, then hand back the problem to raise."""
        ref: EventRef = await self.trail.record(session, self._event(attempt, outcome, reason))
        await commit_now(session)
        problem.extra.setdefault("audit_event_id", ref.event_id)
        return problem

    async def lookup_body(
        self, session: AsyncSession, actor: Actor, body: bytes, request_id: str
    ) -> LookupResponse:
        """The thin bytes entry point: a body that does not parse is refused *and audited*."""
        request = await self.parse(session, actor, body, request_id)
        return (await self.lookup_released(session, actor, request, request_id)).response

    async def parse(self, session: AsyncSession, actor: Actor, body: bytes, request_id: str) -> LookupRequest:
        try:
            return LookupRequest.model_validate_json(body)
        except ValidationError as exc:
            errors = describe_validation(exc.errors())
            attempt = _Attempt(actor=actor, request_id=request_id)
            problem = Problem(422, "validation-error", errors=errors)
            raise await self._refuse(session, attempt, "invalid", "malformed_request", problem) from None

    async def lookup(
        self, session: AsyncSession, actor: Actor, request: LookupRequest, request_id: str
    ) -> LookupResponse:
        return (await self.lookup_released(session, actor, request, request_id)).response

    async def lookup_released(
        self, session: AsyncSession, actor: Actor, request: LookupRequest, request_id: str
    ) -> Released:
        """A lookup plus whom and on which basis it was released (issuance stamps both on the document)."""
        purpose = request.purpose_in()
        basis = Basis(statute=request.basis.statute, consent_id=request.basis.consent_id)
        attempt = _Attempt(
            actor=actor,
            request_id=request_id,
            document_type=request.document_type,
            view=request.view,
            purpose_code=purpose.code,
            purpose_text=purpose.text,
            basis=basis.describe(),
        )
        subject: str | None = None
        commitment: str | None = None
        if request.subject is not None:
            try:
                subject = resident_number.normalize(request.subject.resident_number)
            except resident_number.InvalidResidentNumber:
                problem = Problem(422, "invalid-resident-number")
                raise await self._refuse(
                    session, attempt, "invalid", "malformed_resident_number", problem
                ) from None
            commitment = self.committer.commit(subject)
            attempt = replace(attempt, subject_commitment=commitment)

        document = await self._document(session, attempt, request.document_type, request.view)
        decision = await self._authorize(
            session, actor, commitment, document, request.view, purpose.code, basis
        )
        attempt = replace(
            attempt, basis=decision.basis, subject_commitment=decision.subject_commitment or commitment
        )
        if not decision.allowed:
            problem = self._refusal(decision.reason, actor, basis, document, request.view)
            raise await self._refuse(session, attempt, "denied", decision.reason, problem)
        subject = decision.subject or subject
        assert subject is not None and attempt.subject_commitment is not None
        response = await self.release(
            session, attempt, document, request.view, subject, consent_id=decision.consent_id
        )
        return Released(response, attempt.subject_commitment, attempt.basis or "", purpose)

    async def _authorize(
        self,
        session: AsyncSession,
        actor: Actor,
        commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        """The consent service's decision; a consent is read on an autocommitting session of its own unless
        the caller's transaction is open (it may hold a consent it has not committed yet)."""
        if basis.consent_id is None:
            return await self.consent.authorize(None, actor, commitment, document, view, purpose, basis)
        if session.in_transaction():
            return await self.consent.authorize(session, actor, commitment, document, view, purpose, basis)
        async with self.reads() as reader:
            return await self.consent.authorize(reader, actor, commitment, document, view, purpose, basis)

    async def lookup_bundle(self, actor: Actor, body: bytes, request_id: str) -> dict[str, Any]:
        """Every document of a life-event bundle, fetched concurrently, each audited as its own lookup.

        Each document is its own unit of work (a session cannot be shared by concurrent tasks), so a
        refusal of one never undoes the record of another.
        """
        try:
            request = BundleLookupRequest.model_validate_json(body)
        except ValidationError as exc:
            errors = describe_validation(exc.errors())
            raise Problem(422, "validation-error", errors=errors) from None
        bundle = self.bundles.get(request.bundle)
        if bundle is None:
            raise Problem(404, "unknown-bundle", bundle=request.bundle)
        shared = request.model_dump(exclude={"bundle"}, exclude_none=True)

        async def one(document_type: str, view: str, optional: bool) -> dict[str, Any]:
            single = LookupRequest.model_validate({**shared, "document_type": document_type, "view": view})
            entry: dict[str, Any] = {"document_type": document_type, "view": view, "optional": optional}
            try:
                async with self.sessions() as session:
                    result = await self.lookup(session, actor, single, request_id)
            except Problem as problem:
                entry.update(
                    outcome=_OUTCOMES.get(problem.status, "denied"),
                    problem={
                        "type": f"/problems/{problem.slug}",
                        "status": problem.status,
                        "reason": problem.extra.get("reason"),
                    },
                    audit={"event_id": problem.extra.get("audit_event_id")},
                )
                return entry
            entry.update(
                outcome="ok",
                fields=result.fields,
                fetched_at=result.fetched_at,
                audit={"event_id": result.audit.event_id},
                holder=result.holder,
            )
            return entry

        results = await asyncio.gather(*(one(d.type, d.view, d.optional) for d in bundle.documents))
        complete = all(r["outcome"] == "ok" or r["optional"] for r in results)
        return {"bundle": bundle.id, "complete": complete, "results": list(results)}

    def _refusal(self, reason: str, actor: Actor, basis: Basis, document: DocumentSpec, view: str) -> Problem:
        """The problem for a refused decision; its detail names only values the hub itself vouches for.

        The document type and view were checked against the catalog by now, but the statute is the client's
        text: it is named only when it is one the hub granted this client (from the signed token), otherwise
        replaced by a dash. The request models already refuse resident-number shapes in a statute; this keeps
        the detail from echoing unvetted input even if a caller reaches here another way.
        """
        if reason.startswith("consent_"):
            status = 404 if reason == "consent_not_found" else 403
            return Problem(status, reason.replace("_", "-"), extra={"reason": reason})
        statute = basis.statute if basis.statute in actor.statutes else "—"
        return Problem(
            403,
            "basis-not-allowed",
            extra={"reason": reason},
            statute=statute,
            client_kind=actor.client_kind,
            view=view,
            document_type=document.type,
        )

    async def _document(
        self, session: AsyncSession, attempt: _Attempt, document_type: str, view: str
    ) -> DocumentSpec:
        document = self.catalog.get(document_type)
        if document is None:
            raise await self._refuse(
                session,
                attempt,
                "invalid",
                "unknown_document_type",
                Problem(404, "unknown-document-type", document_type=document_type),
            )
        if document.view(view) is None:
            raise await self._refuse(
                session,
                attempt,
                "invalid",
                "unknown_view",
                Problem(404, "unknown-view", document_type=document.type, view=view),
            )
        return document

    async def release(
        self,
        session: AsyncSession,
        attempt: _Attempt,
        document: DocumentSpec,
        view: str,
        subject: str,
        consent_id: str | None = None,
    ) -> LookupResponse:
        """Fetch, minimise, record (and count the consent use) in one transaction, then answer.

        Callers have already authorised the access; this is the only place fields leave the hub.
        """
        if session.in_transaction():
            await commit_now(
                session
            )  # no transaction (or pooled connection) is held while the agency answers
        fields = released_field_names(document, view)
        adapter = self.adapters[document.adapter]
        try:
            record = await adapter.fetch(document.query, subject, document.view_selection(view).keys())
        except AgencyError as exc:
            reason = exc.reason.split(":")[0]
            if reason == "bad_response":
                problem = Problem(502, "agency-bad-response", agency=exc.agency)
            else:
                problem = Problem(503, "agency-unavailable", headers={"Retry-After": "10"}, agency=exc.agency)
            raise await self._refuse(session, attempt, "agency_error", reason, problem) from None
        if record is None:
            problem = Problem(404, "subject-not-found")
            raise await self._refuse(session, attempt, "not_found", "subject_not_found", problem)

        try:
            released = minimize(document, view, record)
        except (ValueError, TypeError):
            # The agency answered with values that do not fit the spec's types: its answer, not ours.
            problem = Problem(502, "agency-bad-response", agency=document.adapter)
            raise await self._refuse(session, attempt, "agency_error", "bad_response", problem) from None
        fetched_at = utcnow()
        event = self._event(attempt, "ok", "allowed", fields)
        if consent_id is not None and self.trail.joins_uses:
            ref = await self._record_use(session, attempt, event, document, view, consent_id)
        else:
            ref = await self._record(session, attempt, event, document, view, consent_id)
        return LookupResponse(
            lookup_id=str(uuid.uuid4()),
            document_type=document.type,
            view=view,
            holder=document.holder,
            fetched_at=iso(fetched_at),
            fields=released,
            audit=AuditRefOut(event_id=ref.event_id),
        )

    async def _record_use(
        self,
        session: AsyncSession,
        attempt: _Attempt,
        event: AuditEvent,
        document: DocumentSpec,
        view: str,
        consent_id: str,
    ) -> EventRef:
        """The consent use, its event and notices as one statement (PostgreSQL): all durable, or nothing
        written and the refusal recorded instead."""
        use, params = self.consent.guarded_use(consent_id, document.type, view, attempt.actor.id)
        ref = await self.trail.record_use(event, use, params)
        if ref is not None:
            return ref
        try:
            async with self.reads() as reader:
                refused = await self.consent.use_refusal(reader, consent_id)
        except Exception:  # nothing was written or released; without the reason there is no record either
            raise AuditUnavailableProblem() from None
        raise await self._use_refused(session, attempt, refused)

    async def _use_refused(self, session: AsyncSession, attempt: _Attempt, refused: str) -> Problem:
        """The 403 of a consent use that did not count, recorded as a denied attempt."""
        problem = Problem(403, refused.replace("_", "-"), extra={"reason": refused})
        return await self._refuse(session, attempt, "denied", refused, problem)

    async def _record(
        self,
        session: AsyncSession,
        attempt: _Attempt,
        event: AuditEvent,
        document: DocumentSpec,
        view: str,
        consent_id: str | None,
    ) -> EventRef:
        """The event (and the consent use, if any) in the session's transaction, committed on return."""
        if consent_id is not None:
            try:
                refused = await self.consent.use(session, consent_id, document.type, view, attempt.actor.id)
            except Exception:
                raise await fail_closed(session) from None
            if refused is not None:
                await session.rollback()  # the consent row may already be counted: undo it
                raise await self._use_refused(session, attempt, refused)
        if consent_id is None:
            # Nothing else to commit with it: the event (and its notices) alone, in one round trip.
            return await self.trail.record_alone(session, event)
        ref = await self.trail.record(session, event)
        await commit_now(session)  # durable before a single field leaves: fail closed
        return ref

    async def preview(
        self,
        session: AsyncSession,
        actor: Actor,
        subject: str,
        document_type: str,
        view: str,
        request_id: str,
        kind: str = "preview",
        purpose_code: str | None = None,
    ) -> LookupResponse:
        """A resident's own data (consent preview, self-issuance): audited, with basis ``self``."""
        attempt = _Attempt(
            actor=actor,
            request_id=request_id,
            kind=kind,
            subject_commitment=self.committer.commit(subject),
            document_type=document_type,
            view=view,
            purpose_code=purpose_code or kind,
            basis="self",
        )
        document = await self._document(session, attempt, document_type, view)
        return await self.release(session, attempt, document, view, subject)
