"""Consents, consent requests and mandates, and the authorisation of lookups.

The broker asks ``authorize`` and gets a ``Decision``; it does not know whether a statute or a consent
answered. A consent is used inside the caller's transaction (``use``), together with the audit event, so a
use is counted exactly when the access is recorded; concurrent lookups of one document under a one-time
consent cannot both succeed, and a use after a pause or revoke committed is refused, because the count is
a conditional UPDATE that re-checks both (``consent.repository.count_use``).

Every method runs in the caller's session and never commits: the caller's unit of work does, once, with
the audit event of the same change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import rfc8785
from sqlalchemy.ext.asyncio import AsyncSession

from consent import repository
from consent.decisions import Actor, Basis, Decision
from consent.models import (
    ConsentEventRow,
    ConsentReceiptRow,
    ConsentRequestRow,
    ConsentRow,
    ConsentUseRow,
    MandateRow,
)
from consent.records import ConsentView, RequestView, aware
from document_specs.model import DocumentSpec

REQUEST_LIFETIME = timedelta(minutes=15)
Clock = Callable[[], datetime]


class ConsentError(Exception):
    """A consent operation refused; ``code`` is stable (mapped to a problem type by the hub)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Sealer(Protocol):
    def open(self, sealed: str) -> str: ...


class Authorizer(Protocol):
    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision: ...


@dataclass(frozen=True)
class Resident:
    """Who decides: the signed-in resident (or agent), with the principal's data when acting by mandate."""

    account_id: str
    subject_commitment: str
    resident_number_sealed: str


class StatutoryAuthorizer:
    """A statute allows a lookup when the client holds it and the spec lists it for that kind and view."""

    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        code = basis.statute or ""
        described = basis.describe()
        if code not in actor.statutes:
            return Decision.deny(described, "statute_not_granted")
        legal = document.legal_basis(code)
        if legal is None:
            return Decision.deny(described, "statute_not_in_spec")
        if actor.client_kind not in legal.client_kinds:
            return Decision.deny(described, "client_kind_not_allowed")
        if view not in legal.views:
            return Decision.deny(described, "view_not_allowed")
        return Decision.allow(described)


def _canonical(claims: dict[str, Any]) -> bytes:
    return bytes(rfc8785.dumps(claims))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _bound_elsewhere(row: ConsentRequestRow, binding: str | None, account_id: str) -> bool:
    """Whether a counter request may not be viewed or decided by this browser (``binding``) and account.

    A counter request (``requester_kind`` "official") is shown as a QR code that anyone near the desk can
    see. Opening its single-use link binds it to that browser; only a caller presenting the same binding
    secret, and once a resident was seen there, only that resident, may go on. A request whose link was never
    opened has no binding, so nobody can decide it yet. Bank requests (redirect flow) are not bound.
    """
    if row.requester_kind != "official":
        return False
    if row.opened_by_hash is None or not binding:
        return True
    if not hmac.compare_digest(row.opened_by_hash, _digest(binding)):
        return True
    return row.bound_account_id not in (None, account_id)


class ConsentService:
    """Consent rules on the caller's session: reads, conditional updates, ``flush()``, never ``commit()``.

    The hub's application service (``hub.consents``) opens the transaction, adds the audit event to it and
    commits once, so a consent and the record of it exist together or not at all.
    """

    def __init__(
        self,
        sealer: Sealer | None = None,
        sign_receipt: Callable[[bytes], str] | None = None,
        statutory: Authorizer | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._sealer = sealer
        self._sign = sign_receipt
        self._statutory = statutory or StatutoryAuthorizer()
        self._now = clock

    # -- authorisation -------------------------------------------------------------------------------------

    async def authorize(
        self,
        session: AsyncSession | None,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        """``session`` is needed only for a consent basis (a statute is decided from the token and spec)."""
        if basis.consent_id is not None:
            if session is None:
                raise RuntimeError("a consent basis is checked against the database")
            return await self._authorize_consent(
                session, actor, subject_commitment, document, view, purpose, basis
            )
        if basis.statute is not None:
            return await self._statutory.authorize(actor, subject_commitment, document, view, purpose, basis)
        return Decision.deny("none", "no_basis")

    async def _authorize_consent(
        self,
        session: AsyncSession,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        described = basis.describe()
        row = await session.get(ConsentRow, str(basis.consent_id))
        # Another recipient's consent is indistinguishable from a missing one.
        if row is None or row.recipient_id != actor.id:
            return Decision.deny(described, "consent_not_found")
        now = self._now()
        consent = ConsentView.of(row, now)
        if consent.state != "active":
            return Decision.deny(described, f"consent_{consent.state}")
        if (
            now < consent.starts_at
            or not consent.covers(document.type, view)
            or purpose != consent.purpose_code
        ):
            return Decision.deny(described, "consent_scope")
        if subject_commitment is not None and subject_commitment != consent.subject_commitment:
            return Decision.deny(described, "consent_scope")
        if self._sealer is None:
            return Decision.deny(described, "consent_not_found")
        return Decision(
            True,
            described,
            "allowed",
            subject=self._sealer.open(row.subject_sealed),
            subject_commitment=consent.subject_commitment,
            consent_id=consent.consent_id,
        )

    async def use(
        self, session: AsyncSession, consent_id: str, document_type: str, view: str, actor: str
    ) -> str | None:
        """Count one use of one document in the caller's transaction; the refusal reason if there is none.

        On a refusal the caller must roll the transaction back (the consent row may already be counted).
        """
        now = self._now()
        return await repository.count_use(session, consent_id, document_type, view, now, actor)

    def guarded_use(
        self, consent_id: str, document_type: str, view: str, actor: str
    ) -> tuple[repository.GuardedUse, dict[str, Any]]:
        """:meth:`use` as CTEs for a caller's single statement (PostgreSQL), with their parameters."""
        params = repository.guarded_use_params(consent_id, document_type, view, self._now(), actor)
        return repository.GUARDED_USE, params

    async def use_refusal(self, session: AsyncSession, consent_id: str) -> str:
        """Why a :meth:`guarded_use` did not count (read after the statement; the reason code only)."""
        return await repository.use_refusal(session, consent_id, self._now())

    # -- requests ------------------------------------------------------------------------------------------

    async def create_request(
        self,
        session: AsyncSession,
        *,
        requester_kind: str,
        requester_id: str,
        recipient_org: str,
        documents: list[dict[str, str]],
        purpose_code: str,
        purpose_text: str | None,
        mode: str,
        consent_days: int,
        max_uses: int,
        redirect_uri: str | None = None,
        state: str | None = None,
        subject_commitment: str | None = None,
        single_use_link: bool = False,
    ) -> tuple[RequestView, str | None]:
        """Returns the request and, for counter QR links, the single-use token (only its hash is stored)."""
        now = self._now()
        token = secrets.token_urlsafe(24) if single_use_link else None
        row = ConsentRequestRow(
            request_id=str(uuid.uuid4()),
            requester_kind=requester_kind,
            requester_id=requester_id,
            recipient_org=recipient_org,
            subject_commitment=subject_commitment,
            documents=documents,
            purpose_code=purpose_code,
            purpose_text=purpose_text,
            mode=mode,
            consent_days=consent_days,
            # Per named document: "one time" means each document once, "standing" each up to max_uses.
            max_uses=1 if mode == "one_time" else max_uses,
            redirect_uri=redirect_uri,
            state=state,
            status="pending",
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
            open_token_hash=hashlib.sha256(token.encode()).hexdigest() if token else None,
        )
        session.add(row)
        await session.flush()
        return RequestView.of(row, now), token

    async def get_request(self, session: AsyncSession, request_id: str) -> RequestView | None:
        row = await session.get(ConsentRequestRow, request_id)
        return RequestView.of(row, self._now()) if row else None

    async def requests_by(
        self, session: AsyncSession, requester_id: str, since: datetime, limit: int = 200
    ) -> list[RequestView]:
        """The requests one requester opened since a moment, newest first (a counter's list of the day)."""
        now = self._now()
        return [
            RequestView.of(r, now) for r in await repository.requests_by(session, requester_id, since, limit)
        ]

    async def open_link(self, session: AsyncSession, request_id: str, token: str) -> tuple[RequestView, str]:
        """Consume a counter QR link (valid once, while the request is pending) and bind the request to it.

        Returns the request and a fresh binding secret for the opening browser to keep (a cookie); only its
        hash is stored. From now on only that browser may view or decide the request (``_bound_elsewhere``).
        """
        binding = secrets.token_urlsafe(32)
        if not await repository.consume_link(
            session, request_id, _digest(token), self._now(), _digest(binding)
        ):
            raise ConsentError("link_used_or_expired")
        row = await session.get(ConsentRequestRow, request_id, populate_existing=True)
        assert row is not None
        return RequestView.of(row, self._now()), binding

    async def view_request(
        self, session: AsyncSession, request_id: str, *, binding: str | None, account_id: str
    ) -> RequestView | None:
        """A request as the resident about to decide it sees it; None if there is no such request.

        A counter request is refused (``request_bound_elsewhere``) to any browser but the one that opened its
        link, and to any resident but the first one seen there, whom it is bound to from this view on.
        """
        row = await session.get(ConsentRequestRow, request_id)
        if row is None:
            return None
        if _bound_elsewhere(row, binding, account_id):
            raise ConsentError("request_bound_elsewhere")
        if row.requester_kind == "official" and row.bound_account_id is None:
            await repository.bind_account(session, request_id, account_id)
            row = await session.get(ConsentRequestRow, request_id, populate_existing=True)
            assert row is not None
        return RequestView.of(row, self._now())

    async def first_notice(self, session: AsyncSession, request_id: str, subject_commitment: str) -> bool:
        """True the first time a request is announced to this resident, False every time after."""
        return await repository.note_request_notice(session, request_id, subject_commitment, self._now())

    async def decide(
        self,
        session: AsyncSession,
        request_id: str,
        resident: Resident,
        approve: bool,
        *,
        acting_account: str,
        mandate_id: str | None,
        binding: str | None = None,
    ) -> tuple[RequestView, ConsentView | None, str | None]:
        """Approve or deny a pending request for ``resident`` (the principal); approval returns a receipt.

        A counter request is decided only from the browser that opened its link (``binding``, the secret
        ``open_link`` handed out) by the resident bound to it there; checked under the row lock.
        """
        now = self._now()
        row = await session.get(ConsentRequestRow, request_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise ConsentError("request_not_found")
        if _bound_elsewhere(row, binding, acting_account):
            raise ConsentError("request_bound_elsewhere")
        view = RequestView.of(row, now)
        if view.status != "pending":
            raise ConsentError(f"request_{view.status}")
        if row.subject_commitment not in (None, resident.subject_commitment):
            raise ConsentError("request_not_for_you")
        row.decided_at, row.decided_by = now, acting_account
        row.subject_commitment = resident.subject_commitment
        if row.requester_kind == "official":
            row.bound_account_id = acting_account
        if not approve:
            row.status = "denied"
            await session.flush()
            return RequestView.of(row, now), None, None
        consent = ConsentRow(
            consent_id=str(uuid.uuid4()),
            request_id=row.request_id,
            subject_commitment=resident.subject_commitment,
            subject_sealed=resident.resident_number_sealed,
            recipient_kind=row.requester_kind,
            recipient_id=row.requester_id,
            recipient_org=row.recipient_org,
            documents=row.documents,
            purpose_code=row.purpose_code,
            purpose_text=row.purpose_text,
            mode=row.mode,
            starts_at=now,
            expires_at=now + timedelta(days=row.consent_days),
            max_uses=row.max_uses,
            uses=0,
            granted_by=acting_account,
            mandate_id=mandate_id,
            created_at=now,
            status="active",
        )
        row.status, row.consent_id = "approved", consent.consent_id
        session.add(consent)
        await session.flush()
        unique = {(d["document_type"], d["view"]) for d in row.documents}
        session.add_all(
            ConsentUseRow(consent_id=consent.consent_id, document_type=t, view=v, uses=0) for t, v in unique
        )
        session.add(
            ConsentEventRow(consent_id=consent.consent_id, kind="recorded", at=now, actor=acting_account)
        )
        granted = ConsentView.of(consent, now)
        receipt = self._receipt(session, granted, "approved", now)
        await session.flush()
        return RequestView.of(row, now), granted, receipt

    # -- consents ------------------------------------------------------------------------------------------

    async def list_consents(
        self,
        session: AsyncSession,
        *,
        subject_commitment: str | None = None,
        recipient_id: str | None = None,
    ) -> list[ConsentView]:
        rows = await repository.consents(
            session, subject_commitment=subject_commitment, recipient_id=recipient_id
        )
        now = self._now()
        return [ConsentView.of(r, now) for r in rows]

    async def change(
        self, session: AsyncSession, consent_id: str, subject_commitment: str, action: str, actor: str
    ) -> tuple[ConsentView, str | None]:
        """pause | resume | revoke by the resident; revocation yields a receipt.

        The consent row is locked first, so a lookup counting a use either committed before (and was
        released) or waits and then finds the consent no longer active.
        """
        allowed = {
            "pause": ({"active"}, "paused", "paused"),
            "resume": ({"paused"}, "resumed", "active"),
            "revoke": ({"active", "paused"}, "revoked", "revoked"),
        }
        if action not in allowed:
            raise ConsentError("invalid_action")
        now = self._now()
        row = await session.get(ConsentRow, consent_id, with_for_update=True, populate_existing=True)
        if row is None or row.subject_commitment != subject_commitment:
            raise ConsentError("consent_not_found")
        current = ConsentView.of(row, now)
        states, kind, status = allowed[action]
        if current.state not in states:
            raise ConsentError(f"cannot_{action}_{current.state}")
        row.status = status
        session.add(ConsentEventRow(consent_id=consent_id, kind=kind, at=now, actor=actor))
        updated = ConsentView.of(row, now)
        receipt = self._receipt(session, updated, "revoked", now) if action == "revoke" else None
        await session.flush()
        return updated, receipt

    def _receipt(self, session: AsyncSession, consent: ConsentView, kind: str, now: datetime) -> str | None:
        if self._sign is None:
            return None
        claims = {**consent.receipt_claims(), "event": kind, "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        jws = self._sign(_canonical(claims))
        session.add(
            ConsentReceiptRow(
                receipt_id=str(uuid.uuid4()),
                consent_id=consent.consent_id,
                kind=kind,
                jws=jws,
                created_at=now,
            )
        )
        return jws

    async def receipts(
        self, session: AsyncSession, consent_id: str, subject_commitment: str
    ) -> list[dict[str, str]]:
        row = await session.get(ConsentRow, consent_id)
        if row is None or row.subject_commitment != subject_commitment:
            raise ConsentError("consent_not_found")
        return (await self.receipts_of(session, [consent_id])).get(consent_id, [])

    async def receipts_of(
        self, session: AsyncSession, consent_ids: Iterable[str]
    ) -> dict[str, list[dict[str, str]]]:
        """Receipts of many consents at once (callers have already checked whose consents they are)."""
        grouped = await repository.receipts_of(session, consent_ids)
        return {cid: [_receipt_dict(r) for r in rows] for cid, rows in grouped.items()}

    # -- lifecycle moments no request causes ----------------------------------------------------------------

    async def due_transitions(
        self, session: AsyncSession, horizon: timedelta, since: datetime, limit: int = 200
    ) -> list[tuple[str, ConsentView]]:
        """Consents that reached a moment not yet recorded: ``expiring`` (within ``horizon``), ``expired``
        (after ``since``) or ``exhausted`` (every document used up). Each is recorded once (:meth:`mark`).
        """
        now = self._now()
        found: list[tuple[str, ConsentView]] = []
        for row in await repository.exhausted(session, now, limit):
            found.append(("exhausted", ConsentView.of(row, now)))
        for row in await repository.expired(session, now, since, limit):
            found.append(("expired", ConsentView.of(row, now)))
        ending = {view.consent_id for _, view in found}
        for row in await repository.expiring(session, now, horizon, limit):
            if row.consent_id not in ending:  # used up now: that is its last notice, not "expiring soon"
                found.append(("expiring", ConsentView.of(row, now)))
        return found

    async def mark(self, session: AsyncSession, consent_id: str, transition: str) -> None:
        """Record a lifecycle moment in the consent's own log, so that it is found due no more."""
        if transition not in ("expiring", "expired", "exhausted"):
            raise ValueError(transition)
        session.add(ConsentEventRow(consent_id=consent_id, kind=transition, at=self._now(), actor="system"))
        await session.flush()

    # -- mandates ------------------------------------------------------------------------------------------

    async def grant_mandate(
        self,
        session: AsyncSession,
        principal: Resident,
        agent_account_id: str,
        document_types: list[str],
        expires_at: datetime,
    ) -> dict[str, Any]:
        now = self._now()
        if aware(expires_at) <= now:
            raise ConsentError("mandate_expiry_in_past")
        if agent_account_id == principal.account_id:
            raise ConsentError("mandate_to_self")
        row = MandateRow(
            mandate_id=str(uuid.uuid4()),
            principal_account_id=principal.account_id,
            principal_commitment=principal.subject_commitment,
            principal_sealed=principal.resident_number_sealed,
            agent_account_id=agent_account_id,
            document_types=sorted(set(document_types)),
            expires_at=aware(expires_at),
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return _mandate_dict(row, now)

    async def list_mandates(self, session: AsyncSession, account_id: str) -> list[dict[str, Any]]:
        """Mandates the account granted (as principal) or holds (as agent)."""
        now = self._now()
        return [_mandate_dict(r, now) for r in await repository.mandates_of(session, account_id)]

    async def revoke_mandate(
        self, session: AsyncSession, mandate_id: str, principal_account_id: str
    ) -> tuple[dict[str, Any], Resident]:
        """Revoke (idempotent); returns the mandate and its principal (whose history records it)."""
        now = self._now()
        row = await session.get(MandateRow, mandate_id, with_for_update=True, populate_existing=True)
        if row is None or row.principal_account_id != principal_account_id:
            raise ConsentError("mandate_not_found")
        if row.revoked_at is None:
            row.revoked_at = now
        await session.flush()
        principal = Resident(row.principal_account_id, row.principal_commitment, row.principal_sealed)
        return _mandate_dict(row, now), principal

    async def mandate_for(
        self, session: AsyncSession, mandate_id: str, agent_account_id: str, document_types: Iterable[str]
    ) -> Resident:
        """The principal an agent may act for, if the mandate is live and covers every document type."""
        row = await session.get(MandateRow, mandate_id)
        now = self._now()
        if row is None or row.agent_account_id != agent_account_id:
            raise ConsentError("mandate_not_found")
        if row.revoked_at is not None or aware(row.expires_at) <= now:
            raise ConsentError("mandate_inactive")
        if not set(document_types) <= set(row.document_types):
            raise ConsentError("mandate_scope")
        return Resident(row.principal_account_id, row.principal_commitment, row.principal_sealed)


def _receipt_dict(row: ConsentReceiptRow) -> dict[str, str]:
    return {"receipt_id": row.receipt_id, "kind": row.kind, "jws": row.jws}


def _mandate_dict(row: MandateRow, now: datetime) -> dict[str, Any]:
    active = row.revoked_at is None and aware(row.expires_at) > now
    return {
        "mandate_id": row.mandate_id,
        "principal_account_id": row.principal_account_id,
        "agent_account_id": row.agent_account_id,
        "document_types": list(row.document_types),
        "expires_at": aware(row.expires_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": "active" if active else ("revoked" if row.revoked_at else "expired"),
    }
