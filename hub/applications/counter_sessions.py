"""Counter form sessions: an official opens one form on the desk screen, the resident scans its QR code.

Like the counter consent flow, the QR link is a one-time token (only its hash is stored) that binds the
session to the first resident who opens it while signed in; the application submitted from that phone is
tied to the session, so the desk screen shows it at once. Opening and binding are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from hub.actors import account_actor, audit_kind
from hub.applications import repository
from hub.applications.models import ApplicationRow, FormSessionRow
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.uow import Trail

LIFETIME = timedelta(minutes=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class CounterSessions:
    def __init__(self, trail: Trail, form_types: frozenset[str]) -> None:
        self.trail = trail
        self.form_types = form_types

    async def _record(
        self,
        session: AsyncSession,
        kind: str,
        account: AccountPrincipal,
        row: FormSessionRow,
        request_id: str,
    ) -> None:
        actor = account_actor(account)
        await self.trail.record(
            session,
            AuditEvent(
                kind=kind,
                actor_kind=audit_kind(actor),
                actor_id=account.account_id,
                actor_org=account.org or None,
                subject_commitment=account.subject_commitment if account.role == "resident" else None,
                purpose_code=f"application:{row.form_type}",
                basis=f"form-session:{row.session_id}",
                outcome="ok",
                request_id=request_id,
            ),
        )

    async def open(
        self, session: AsyncSession, official: AccountPrincipal, form_type: str, request_id: str
    ) -> tuple[FormSessionRow, str]:
        """A new session for one form, and the token its QR link carries (shown once, never stored)."""
        if official.role != "official":
            raise Problem(403, "role-required", role="official")
        if form_type not in self.form_types:
            raise Problem(404, "unknown-form", form_type=form_type[:64])
        token = secrets.token_urlsafe(24)
        now = utcnow()
        row = FormSessionRow(
            session_id=str(uuid.uuid4()),
            official_account_id=official.account_id,
            form_type=form_type,
            token_hash=_hash(token),
            created_at=now,
            expires_at=now + LIFETIME,
        )
        session.add(row)
        await session.flush()
        await self._record(session, "application_form_session", official, row, request_id)
        return row, token

    async def bind(
        self, session: AsyncSession, resident: AccountPrincipal, session_id: str, token: str, request_id: str
    ) -> FormSessionRow:
        """The signed-in resident opened the QR link: the session is theirs from now on (once)."""
        if resident.role != "resident":
            raise Problem(403, "role-required", role="resident")
        row = await repository.form_session(session, session_id[:36], lock=True)
        if row is None or not hmac.compare_digest(row.token_hash, _hash(token)):
            raise Problem(404, "form-session-not-found")
        if row.resident_account_id == resident.account_id:
            return row  # the same phone reloading the link
        if row.resident_account_id is not None or _aware(row.expires_at) <= utcnow():
            raise Problem(410, "link-expired")
        row.resident_account_id = resident.account_id
        row.opened_at = utcnow()
        await session.flush()
        await self._record(session, "application_form_session_opened", resident, row, request_id)
        return row

    async def status(
        self, session: AsyncSession, official: AccountPrincipal, session_id: str
    ) -> tuple[FormSessionRow, ApplicationRow | None]:
        """What the desk screen polls: waiting, opened on a phone, or submitted (with the case)."""
        row = await repository.form_session(session, session_id[:36])
        if row is None or row.official_account_id != official.account_id:
            raise Problem(404, "form-session-not-found")
        case = None
        if row.application_id is not None:
            case = await repository.application(session, row.application_id)
        return row, case

    async def of_resident(
        self, session: AsyncSession, resident: AccountPrincipal, session_id: str
    ) -> FormSessionRow:
        row = await repository.form_session(session, session_id[:36])
        if row is None or row.resident_account_id != resident.account_id:
            raise Problem(404, "form-session-not-found")
        return row

    async def today(self, session: AsyncSession, official: AccountPrincipal) -> list[FormSessionRow]:
        return await repository.form_sessions_by(session, official.account_id, utcnow() - timedelta(hours=12))


def session_state(row: FormSessionRow) -> str:
    if row.application_id is not None:
        return "submitted"
    if row.resident_account_id is not None:
        return "opened"
    if _aware(row.expires_at) <= utcnow():
        return "expired"
    return "waiting"
