"""Consent flows as the hub runs them: each change and its audit event in the caller's one transaction.

Routes and pages hand in the request's session (``hub.deps.SessionDep``), which commits after they return.
Nothing here commits; a failed audit write rolls the transaction back (``hub.uow.Trail``), so a consent,
decision, pause, revocation or mandate never exists without its record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from consent import Actor, ConsentError, ConsentService, ConsentView, RequestView, Resident
from document_specs.loader import SpecCatalog
from document_specs.model import BundleSpec
from hub.actors import account_actor, audit_kind, client_actor
from hub.auth.models import AccountRow, ClientRow
from hub.auth.tokens import AccountPrincipal, ClientPrincipal
from hub.consents.schemas import ConsentRequestIn, DocumentRef, MandateIn
from hub.errors import Problem
from hub.uow import Trail

# A request reaching its resident: recorded (and so announced) when a signed-in resident first opens a request
# addressed to them, once per request and resident. A bank's request names nobody until it is decided (its
# body carries no resident), and a counter's is bound to a resident only when its link is opened, so neither
# creation event has a subject to tell.
REQUEST_RECEIVED: Final = "consent_request_received"
# The audit kind of each change a resident makes to a consent (named, so the kinds the hub records can be read
# off the code: tests/unit/test_audit_kind_labels.py).
CHANGE_KINDS: Final = {"pause": "consent_pause", "resume": "consent_resume", "revoke": "consent_revoke"}

_ERRORS: dict[str, tuple[int, str]] = {
    "request_not_found": (404, "consent-request-not-found"),
    "request_not_for_you": (403, "consent-request-not-for-you"),
    "request_bound_elsewhere": (403, "consent-request-bound-elsewhere"),
    "consent_not_found": (404, "consent-not-found"),
    "link_used_or_expired": (410, "link-expired"),
}


def consent_problem(exc: ConsentError) -> Problem:
    """The problem (status and stable type) a refused consent operation is answered with."""
    if exc.code in _ERRORS:
        status, slug = _ERRORS[exc.code]
        return Problem(status, slug, extra={"reason": exc.code})
    if exc.code.startswith("request_"):
        return Problem(409, "consent-request-closed", extra={"reason": exc.code}, state=exc.code[8:])
    if exc.code.startswith("mandate_"):
        status = 404 if exc.code == "mandate_not_found" else 403
        return Problem(status, "mandate-invalid", extra={"reason": exc.code}, code=exc.code)
    return Problem(409, "consent-transition", extra={"reason": exc.code}, code=exc.code)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


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


def redirect_target(view: RequestView, params: dict[str, str]) -> str | None:
    if not view.redirect_uri:
        return None
    if view.state is not None:
        params = {**params, "state": view.state}
    return view.redirect_uri + ("&" if "?" in view.redirect_uri else "?") + urlencode(params)


@dataclass(frozen=True)
class Decided:
    """A decision as both faces show it."""

    request: dict[str, Any]
    consent: dict[str, Any] | None
    receipt: str | None
    redirect_to: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "consent": self.consent,
            "receipt": self.receipt,
            "redirect_to": self.redirect_to,
        }


class ConsentApp:
    def __init__(
        self,
        rules: ConsentService,
        trail: Trail,
        catalog: SpecCatalog,
        bundles: Mapping[str, BundleSpec],
        public_url: str,
    ) -> None:
        self.rules = rules
        self.trail = trail
        self.catalog = catalog
        self.bundles = bundles
        self.public_url = public_url.rstrip("/")

    # -- shapes -------------------------------------------------------------------------------------------

    def request_json(self, view: RequestView) -> dict[str, Any]:
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
            "approve_url": f"{self.public_url}/consent/{view.request_id}",
        }

    def check_documents(self, documents: list[DocumentRef]) -> list[dict[str, str]]:
        refs = []
        for doc in documents:
            spec = self.catalog.get(doc.document_type)
            if spec is None:
                raise Problem(404, "unknown-document-type", document_type=doc.document_type)
            if spec.view(doc.view) is None:
                raise Problem(404, "unknown-view", document_type=doc.document_type, view=doc.view)
            refs.append({"document_type": doc.document_type, "view": doc.view})
        return refs

    def describe_document(self, ref: dict[str, str]) -> dict[str, Any]:
        """A requested document with its titles and each field's titles, for the resident to decide on."""
        spec = self.catalog[ref["document_type"]]
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

    # -- who decides --------------------------------------------------------------------------------------

    async def resident_self(self, session: AsyncSession, account: AccountPrincipal) -> Resident:
        row = await session.get(AccountRow, account.account_id)
        if row is None or not row.resident_number_enc or not row.subject_commitment:
            raise Problem(403, "role-required", role="resident")
        return Resident(row.account_id, row.subject_commitment, row.resident_number_enc)

    async def _record(
        self,
        session: AsyncSession,
        kind: str,
        actor: Actor | None,
        request_id: str,
        *,
        subject_commitment: str | None,
        basis: str | None,
        reason: str | None = None,
        purpose_code: str | None = None,
        document_type: str | None = None,
    ) -> None:
        """Write the change's audit event in ``session``; ``actor`` None is the public (a scanned QR link)."""
        await self.trail.record(
            session,
            AuditEvent(
                kind=kind,
                actor_kind=audit_kind(actor),
                actor_id=actor.id if actor is not None else "public",
                actor_org=(actor.org or None) if actor is not None else None,
                subject_commitment=subject_commitment,
                document_type=document_type,
                purpose_code=purpose_code,
                basis=basis,
                outcome="ok",
                reason=reason,
                request_id=request_id,
            ),
        )

    # -- requests -----------------------------------------------------------------------------------------

    async def create_client_request(
        self, session: AsyncSession, client: ClientPrincipal, body: ConsentRequestIn, request_id: str
    ) -> RequestView:
        """A bank's request: the resident is sent to ``approve_url`` and comes back to ``redirect_uri``."""
        registered = (
            await session.execute(
                select(ClientRow.redirect_uris).where(ClientRow.client_id == client.client_id)
            )
        ).scalar_one_or_none()
        if body.redirect_uri not in (registered or []):
            raise Problem(400, "redirect-uri-not-registered")
        refs = list(body.documents)
        if body.bundle is not None:
            bundle = self.bundles.get(body.bundle)
            if bundle is None:
                raise Problem(404, "unknown-bundle", bundle=body.bundle)
            refs += [DocumentRef(document_type=d.type, view=d.view) for d in bundle.documents]
        if not refs:
            raise Problem(422, "validation-error", errors="documents or bundle (missing)")
        view, _ = await self.rules.create_request(
            session,
            requester_kind="client",
            requester_id=client.client_id,
            recipient_org=client.org,
            documents=self.check_documents(refs),
            purpose_code=body.purpose.code,
            purpose_text=body.purpose.text,
            mode=body.mode,
            consent_days=body.consent_days,
            max_uses=body.max_uses,
            redirect_uri=body.redirect_uri,
            state=body.state,
        )
        await self._record(
            session,
            "consent_request",
            client_actor(client),
            request_id,
            subject_commitment=None,
            basis=f"request:{view.request_id}",
            purpose_code=view.purpose_code,
        )
        return view

    async def open_counter_session(
        self,
        session: AsyncSession,
        official: AccountPrincipal,
        documents: list[DocumentRef],
        purpose_code: str,
        purpose_text: str | None,
        request_id: str,
    ) -> tuple[RequestView, str]:
        """A counter session: a one-time request for these documents and a single-use QR link token."""
        view, token = await self.rules.create_request(
            session,
            requester_kind="official",
            requester_id=official.account_id,
            recipient_org=official.org or "",
            documents=self.check_documents(documents),
            purpose_code=purpose_code,
            purpose_text=purpose_text,
            mode="one_time",
            consent_days=1,
            max_uses=1,
            single_use_link=True,
        )
        assert token is not None
        await self._record(
            session,
            "consent_request",
            account_actor(official),
            request_id,
            subject_commitment=None,
            basis=f"request:{view.request_id}",
            purpose_code=purpose_code,
        )
        return view, token

    async def open_link(self, session: AsyncSession, request_id: str, token: str, audit_id: str) -> str:
        """The resident scanned the counter's QR code: the link is spent, and that is on the record.

        Returns the binding secret the opening browser must keep (the page sets it as a cookie): the request
        is bound to that browser, and only it may view or decide the request (``request_for``, ``decide``).
        """
        try:
            view, binding = await self.rules.open_link(session, request_id, token)
        except ConsentError as exc:
            raise consent_problem(exc) from None
        await self._record(
            session,
            "consent_link_opened",
            None,
            audit_id,
            subject_commitment=view.subject_commitment,
            basis=f"request:{request_id}",
        )
        return binding

    async def get_request(self, session: AsyncSession, request_id: str) -> RequestView | None:
        return await self.rules.get_request(session, request_id)

    async def request_for(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        request_id: str,
        binding: str | None,
        audit_id: str,
    ) -> RequestView | None:
        """A request as the signed-in resident about to decide it sees it (the decision page).

        A counter request answers 403 ``consent-request-bound-elsewhere`` to any browser but the one that
        opened its QR link (``binding``) and to any resident but the first one seen there; the first view
        there binds the request to this resident. None when there is no such request. A pending request
        addressed to this resident is announced to them the first time (``announce_request``).
        """
        try:
            view = await self.rules.view_request(
                session, request_id, binding=binding, account_id=account.account_id
            )
        except ConsentError as exc:
            raise consent_problem(exc) from None
        if view is not None:
            await self.announce_request(session, account, view, audit_id)
        return view

    async def announce_request(
        self, session: AsyncSession, account: AccountPrincipal, view: RequestView, audit_id: str
    ) -> None:
        """Tell a resident of a pending request addressed to them, the first time they open it.

        Audited as ``consent_request_received`` with the resident's subject commitment, so the outbox writes
        "<organisation> asks for your consent to see your <document>" in the same transaction. Once per
        request and resident (``consent_request_notices``' key), however often, or in however many tabs at
        once, it is opened; never for a request that is closed or names another resident.
        """
        mine = account.subject_commitment
        if mine is None or view.status != "pending" or view.subject_commitment not in (None, mine):
            return
        if not await self.rules.first_notice(session, view.request_id, mine):
            return
        documents = {d["document_type"] for d in view.documents}
        await self._record(
            session,
            REQUEST_RECEIVED,
            account_actor(account),
            audit_id,
            subject_commitment=mine,
            basis=f"request:{view.request_id}",
            purpose_code=view.purpose_code,
            document_type=documents.pop() if len(documents) == 1 else None,
        )

    async def requests_by(
        self, session: AsyncSession, requester_id: str, since: datetime
    ) -> list[RequestView]:
        return await self.rules.requests_by(session, requester_id, since)

    # -- decisions ----------------------------------------------------------------------------------------

    async def decide(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        request_id: str,
        approve: bool,
        mandate_id: str | None,
        audit_id: str,
        binding: str | None = None,
    ) -> Decided:
        """Approve or deny for oneself or for a principal by mandate; audited in the same transaction.

        ``binding`` is the secret the browser that opened a counter QR link keeps; without the right one a
        counter request is refused (403), so it cannot be decided through the API or from another browser.
        """
        pending = await self.rules.get_request(session, request_id)
        if pending is None:
            raise Problem(404, "consent-request-not-found")
        try:
            if mandate_id:
                types = [d["document_type"] for d in pending.documents]
                principal = await self.rules.mandate_for(session, mandate_id, account.account_id, types)
            else:
                principal = await self.resident_self(session, account)
            view, consent, receipt = await self.rules.decide(
                session,
                request_id,
                principal,
                approve,
                acting_account=account.account_id,
                mandate_id=mandate_id,
                binding=binding,
            )
        except ConsentError as exc:
            raise consent_problem(exc) from None
        basis = f"mandate:{mandate_id}" if mandate_id else "self"
        if consent is not None:
            kind, reason = "consent_approve", f"consent:{consent.consent_id}"
            target = redirect_target(view, {"consent_id": consent.consent_id})
        else:
            kind, reason = "consent_deny", f"request:{view.request_id}"
            target = redirect_target(view, {"error": "access_denied"})
        await self._record(
            session,
            kind,
            account_actor(account),
            audit_id,
            subject_commitment=principal.subject_commitment,
            basis=basis,
            reason=reason,
        )
        return Decided(self.request_json(view), consent_json(consent) if consent else None, receipt, target)

    # -- consents -----------------------------------------------------------------------------------------

    async def consents_of_subject(self, session: AsyncSession, subject_commitment: str) -> list[ConsentView]:
        return await self.rules.list_consents(session, subject_commitment=subject_commitment)

    async def consents_of_recipient(self, session: AsyncSession, recipient_id: str) -> list[ConsentView]:
        return await self.rules.list_consents(session, recipient_id=recipient_id)

    async def change(
        self, session: AsyncSession, account: AccountPrincipal, consent_id: str, action: str, audit_id: str
    ) -> tuple[ConsentView, str | None]:
        """Pause, resume or revoke one of my consents; the next lookup sees it."""
        assert account.subject_commitment is not None
        try:
            view, receipt = await self.rules.change(
                session, consent_id, account.subject_commitment, action, account.account_id
            )
        except ConsentError as exc:
            raise consent_problem(exc) from None
        await self._record(
            session,
            CHANGE_KINDS[action],  # an unknown action was refused above (``invalid_action``)
            account_actor(account),
            audit_id,
            subject_commitment=account.subject_commitment,
            basis="self",
            reason=f"consent:{consent_id}",
        )
        return view, receipt

    async def receipts(
        self, session: AsyncSession, account: AccountPrincipal, consent_id: str
    ) -> list[dict[str, str]]:
        assert account.subject_commitment is not None
        try:
            return await self.rules.receipts(session, consent_id, account.subject_commitment)
        except ConsentError as exc:
            raise consent_problem(exc) from None

    async def receipts_of(
        self, session: AsyncSession, views: list[ConsentView]
    ) -> dict[str, list[dict[str, str]]]:
        """Receipts of consents already listed for their subject, in one query."""
        return await self.rules.receipts_of(session, [v.consent_id for v in views])

    # -- mandates -----------------------------------------------------------------------------------------

    async def grant_mandate(
        self, session: AsyncSession, account: AccountPrincipal, body: MandateIn, audit_id: str
    ) -> dict[str, Any]:
        """Let another resident approve requests and request documents for me (these types, until a date).

        A grant necessarily tells the grantor that the agent exists (the mandate is created and listed), so
        what can be hidden is everything else about a name that cannot be granted: an unknown name, an
        official's or auditor's name and a disabled account all get the same ``404 agent-not-found``, with
        the same body. The answer is decided after one and the same query (the account row by user name,
        whatever it turns out to be), so the database work, and with it the timing, does not tell them
        apart either. The problem's wording ("no resident account with that user name") is true in each case.
        """
        for document_type in body.document_types:
            if document_type not in self.catalog:
                raise Problem(404, "unknown-document-type", document_type=document_type)
        found = (
            await session.execute(
                select(AccountRow.account_id, AccountRow.role, AccountRow.active).where(
                    AccountRow.username == body.agent_username
                )
            )
        ).one_or_none()
        agent = found.account_id if found is not None and found.role == "resident" and found.active else None
        if agent is None:
            raise Problem(404, "agent-not-found")
        principal = await self.resident_self(session, account)
        try:
            mandate = await self.rules.grant_mandate(
                session, principal, agent, body.document_types, body.expires_at
            )
        except ConsentError as exc:
            raise consent_problem(exc) from None
        await self._record(
            session,
            "mandate_grant",
            account_actor(account),
            audit_id,
            subject_commitment=principal.subject_commitment,
            basis=f"mandate:{mandate['mandate_id']}",
        )
        return mandate

    async def mandates(self, session: AsyncSession, account_id: str) -> list[dict[str, Any]]:
        return await self.rules.list_mandates(session, account_id)

    async def revoke_mandate(
        self, session: AsyncSession, account: AccountPrincipal, mandate_id: str, audit_id: str
    ) -> dict[str, Any]:
        try:
            mandate, principal = await self.rules.revoke_mandate(session, mandate_id, account.account_id)
        except ConsentError as exc:
            raise consent_problem(exc) from None
        await self._record(
            session,
            "mandate_revoke",
            account_actor(account),
            audit_id,
            subject_commitment=principal.subject_commitment,
            basis=f"mandate:{mandate_id}",
        )
        return mandate

    async def account_names(self, session: AsyncSession, account_ids: set[str]) -> dict[str, str]:
        """Display names of the other party of my mandates."""
        if not account_ids:
            return {}
        rows = await session.execute(
            select(AccountRow.account_id, AccountRow.display_name).where(
                AccountRow.account_id.in_(account_ids)
            )
        )
        return {row.account_id: row.display_name for row in rows}
