"""Consents, consent requests and mandates, and the authorisation of lookups.

The broker asks ``authorize`` and gets a ``Decision``; it does not know whether a statute or a consent
answered. A consent is used inside the caller's transaction (``use``), together with the audit event, so a
use is counted exactly when the access is recorded, and concurrent lookups on a one-time consent cannot both
succeed: the increment is one conditional UPDATE.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import rfc8785
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consent.decisions import Actor, Basis, Decision
from consent.models import ConsentEventRow, ConsentReceiptRow, ConsentRequestRow, ConsentRow, MandateRow
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


class ConsentService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        sealer: Sealer | None = None,
        sign_receipt: Callable[[bytes], str] | None = None,
        statutory: Authorizer | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._sign = sign_receipt
        self._statutory = statutory or StatutoryAuthorizer()
        self._now = clock

    def _db(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("this ConsentService was built without a database")
        return self._sessions

    # -- authorisation -------------------------------------------------------------------------------------

    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        if basis.consent_id is not None:
            return await self._authorize_consent(actor, subject_commitment, document, view, purpose, basis)
        if basis.statute is not None:
            return await self._statutory.authorize(actor, subject_commitment, document, view, purpose, basis)
        return Decision.deny("none", "no_basis")

    async def _authorize_consent(
        self,
        actor: Actor,
        subject_commitment: str | None,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        described = basis.describe()
        loaded = await self._load(str(basis.consent_id))
        consent, sealed = loaded if loaded else (None, None)
        # Another recipient's consent is indistinguishable from a missing one.
        if consent is None or consent.recipient_id != actor.id:
            return Decision.deny(described, "consent_not_found")
        if consent.state != "active":
            return Decision.deny(described, f"consent_{consent.state}")
        now = self._now()
        if (
            now < consent.starts_at
            or not consent.covers(document.type, view)
            or purpose != consent.purpose_code
        ):
            return Decision.deny(described, "consent_scope")
        if subject_commitment is not None and subject_commitment != consent.subject_commitment:
            return Decision.deny(described, "consent_scope")
        if self._sealer is None or sealed is None:
            return Decision.deny(described, "consent_not_found")
        return Decision(
            True,
            described,
            "allowed",
            subject=self._sealer.open(sealed),
            subject_commitment=consent.subject_commitment,
            consent_id=consent.consent_id,
        )

    async def use(self, session: AsyncSession, consent_id: str, actor: str) -> bool:
        """Count one use inside the caller's transaction; False when none is left (or it lapsed meanwhile)."""
        now = self._now()
        result = await session.execute(
            update(ConsentRow)
            .where(
                ConsentRow.consent_id == consent_id,
                ConsentRow.uses < ConsentRow.max_uses,
                ConsentRow.expires_at > now,
            )
            .values(uses=ConsentRow.uses + 1, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        session.add(ConsentEventRow(consent_id=consent_id, kind="used", at=now, actor=actor))
        return True

    # -- requests ------------------------------------------------------------------------------------------

    async def create_request(
        self,
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
            # A use is one document fetched: "one time" means each named document once.
            max_uses=(1 if mode == "one_time" else max_uses) * max(1, len(documents)),
            redirect_uri=redirect_uri,
            state=state,
            status="pending",
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
            open_token_hash=hashlib.sha256(token.encode()).hexdigest() if token else None,
        )
        async with self._db()() as session, session.begin():
            session.add(row)
        return RequestView.of(row, now), token

    async def get_request(self, request_id: str) -> RequestView | None:
        async with self._db()() as session:
            row = await session.get(ConsentRequestRow, request_id)
        return RequestView.of(row, self._now()) if row else None

    async def requests_by(self, requester_id: str, since: datetime, limit: int = 200) -> list[RequestView]:
        """The requests one requester opened since a moment, newest first (a counter's list of the day)."""
        async with self._db()() as session:
            rows = await session.execute(
                select(ConsentRequestRow)
                .where(
                    ConsentRequestRow.requester_id == requester_id,
                    ConsentRequestRow.created_at >= since.astimezone(UTC),  # stored in UTC
                )
                .order_by(ConsentRequestRow.created_at.desc())
                .limit(limit)
            )
            now = self._now()
            return [RequestView.of(row, now) for row in rows.scalars()]

    async def open_link(self, request_id: str, token: str) -> RequestView:
        """Consume a counter QR link: valid once, while the request is pending."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        async with self._db()() as session, session.begin():
            result = await session.execute(
                update(ConsentRequestRow)
                .where(
                    ConsentRequestRow.request_id == request_id,
                    ConsentRequestRow.open_token_hash == digest,
                    ConsentRequestRow.status == "pending",
                    ConsentRequestRow.expires_at > self._now(),
                )
                .values(open_token_hash=None)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ConsentError("link_used_or_expired")
            row = await session.get(ConsentRequestRow, request_id)
        assert row is not None
        return RequestView.of(row, self._now())

    async def decide(
        self,
        request_id: str,
        resident: Resident,
        approve: bool,
        *,
        acting_account: str,
        mandate_id: str | None,
    ) -> tuple[RequestView, ConsentView | None, str | None]:
        """Approve or deny a pending request for ``resident`` (the principal); approval returns a receipt."""
        now = self._now()
        async with self._db()() as session, session.begin():
            row = await session.get(ConsentRequestRow, request_id, with_for_update=True)
            if row is None:
                raise ConsentError("request_not_found")
            view = RequestView.of(row, now)
            if view.status != "pending":
                raise ConsentError(f"request_{view.status}")
            if row.subject_commitment not in (None, resident.subject_commitment):
                raise ConsentError("request_not_for_you")
            row.decided_at, row.decided_by = now, acting_account
            row.subject_commitment = resident.subject_commitment
            if not approve:
                row.status = "denied"
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
            )
            row.status, row.consent_id = "approved", consent.consent_id
            session.add(consent)
            await session.flush()
            session.add(
                ConsentEventRow(consent_id=consent.consent_id, kind="recorded", at=now, actor=acting_account)
            )
            granted = ConsentView.of(consent, [], now)
            receipt = self._receipt(session, granted, "approved", now)
        return RequestView.of(row, now), granted, receipt

    # -- consents ------------------------------------------------------------------------------------------

    async def _events(self, session: AsyncSession, ids: Iterable[str]) -> dict[str, list[ConsentEventRow]]:
        grouped: dict[str, list[ConsentEventRow]] = {}
        rows = await session.execute(
            select(ConsentEventRow)
            .where(ConsentEventRow.consent_id.in_(list(ids)), ConsentEventRow.kind != "used")
            .order_by(ConsentEventRow.id)
        )
        for event in rows.scalars():
            grouped.setdefault(event.consent_id, []).append(event)
        return grouped

    async def _load(self, consent_id: str) -> tuple[ConsentView, str] | None:
        """The consent's view and its sealed subject, read in one session."""
        async with self._db()() as session:
            row = await session.get(ConsentRow, consent_id)
            if row is None:
                return None
            events = (await self._events(session, [consent_id])).get(consent_id, [])
        return ConsentView.of(row, events, self._now()), row.subject_sealed

    async def get_consent(self, consent_id: str) -> ConsentView | None:
        loaded = await self._load(consent_id)
        return loaded[0] if loaded else None

    async def list_consents(
        self, *, subject_commitment: str | None = None, recipient_id: str | None = None
    ) -> list[ConsentView]:
        query = select(ConsentRow).order_by(ConsentRow.created_at.desc())
        if subject_commitment is not None:
            query = query.where(ConsentRow.subject_commitment == subject_commitment)
        if recipient_id is not None:
            query = query.where(ConsentRow.recipient_id == recipient_id)
        async with self._db()() as session:
            rows = (await session.execute(query.limit(500))).scalars().all()
            events = await self._events(session, [r.consent_id for r in rows])
        now = self._now()
        return [ConsentView.of(r, events.get(r.consent_id, []), now) for r in rows]

    async def change(
        self, consent_id: str, subject_commitment: str, action: str, actor: str
    ) -> tuple[ConsentView, str | None]:
        """pause | resume | revoke by the resident; revocation yields a receipt."""
        allowed = {
            "pause": ({"active"}, "paused"),
            "resume": ({"paused"}, "resumed"),
            "revoke": ({"active", "paused"}, "revoked"),
        }
        if action not in allowed:
            raise ConsentError("invalid_action")
        now = self._now()
        async with self._db()() as session, session.begin():
            row = await session.get(ConsentRow, consent_id, with_for_update=True)
            if row is None or row.subject_commitment != subject_commitment:
                raise ConsentError("consent_not_found")
            events = (await self._events(session, [consent_id])).get(consent_id, [])
            current = ConsentView.of(row, events, now)
            states, kind = allowed[action]
            if current.state not in states:
                raise ConsentError(f"cannot_{action}_{current.state}")
            event = ConsentEventRow(consent_id=consent_id, kind=kind, at=now, actor=actor)
            session.add(event)
            await session.flush()
            updated = ConsentView.of(row, [*events, event], now)
            receipt = self._receipt(session, updated, "revoked", now) if action == "revoke" else None
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

    async def receipts(self, consent_id: str, subject_commitment: str) -> list[dict[str, str]]:
        async with self._db()() as session:
            row = await session.get(ConsentRow, consent_id)
            if row is None or row.subject_commitment != subject_commitment:
                raise ConsentError("consent_not_found")
            rows = (
                (
                    await session.execute(
                        select(ConsentReceiptRow)
                        .where(ConsentReceiptRow.consent_id == consent_id)
                        .order_by(ConsentReceiptRow.created_at)
                    )
                )
                .scalars()
                .all()
            )
        return [{"receipt_id": r.receipt_id, "kind": r.kind, "jws": r.jws} for r in rows]

    # -- mandates ------------------------------------------------------------------------------------------

    async def grant_mandate(
        self, principal: Resident, agent_account_id: str, document_types: list[str], expires_at: datetime
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
        async with self._db()() as session, session.begin():
            session.add(row)
        return _mandate_dict(row, now)

    async def list_mandates(self, account_id: str) -> list[dict[str, Any]]:
        """Mandates the account granted (as principal) or holds (as agent)."""
        async with self._db()() as session:
            rows = (
                (
                    await session.execute(
                        select(MandateRow)
                        .where(
                            (MandateRow.principal_account_id == account_id)
                            | (MandateRow.agent_account_id == account_id)
                        )
                        .order_by(MandateRow.created_at.desc())
                    )
                )
                .scalars()
                .all()
            )
        now = self._now()
        return [_mandate_dict(r, now) for r in rows]

    async def revoke_mandate(self, mandate_id: str, principal_account_id: str) -> dict[str, Any]:
        now = self._now()
        async with self._db()() as session, session.begin():
            row = await session.get(MandateRow, mandate_id, with_for_update=True)
            if row is None or row.principal_account_id != principal_account_id:
                raise ConsentError("mandate_not_found")
            if row.revoked_at is None:
                row.revoked_at = now
            return _mandate_dict(row, now)

    async def mandate_for(
        self, mandate_id: str, agent_account_id: str, document_types: Iterable[str]
    ) -> Resident:
        """The principal an agent may act for, if the mandate is live and covers every document type."""
        async with self._db()() as session:
            row = await session.get(MandateRow, mandate_id)
        now = self._now()
        if row is None or row.agent_account_id != agent_account_id:
            raise ConsentError("mandate_not_found")
        if row.revoked_at is not None or aware(row.expires_at) <= now:
            raise ConsentError("mandate_inactive")
        if not set(document_types) <= set(row.document_types):
            raise ConsentError("mandate_scope")
        return Resident(row.principal_account_id, row.principal_commitment, row.principal_sealed)


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
