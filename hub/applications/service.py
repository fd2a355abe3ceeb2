"""Civil application use cases: drafts, submission, the case's moves, the satisfaction rating.

Each change and its audit event are written in the caller's session (``hub.uow.Trail.record``), so the notice
to the resident commits exactly with the step. Nothing here commits; pre-filling (``prefill.py``) is the one
part that does, because it goes through the audited lookup.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from document_specs.forms import FormSpec
from hub import resident_number
from hub.actors import account_actor, audit_kind
from hub.applications import lifecycle, repository
from hub.applications.answers import AnswersInvalid, clean
from hub.applications.business_days import add_business_days, business_days_between
from hub.applications.files import start_retention
from hub.applications.models import ApplicationRow, DraftRow, StepRow
from hub.applications.prefill import keep_sources
from hub.applications.proxy import held_mandate, principal_name
from hub.auth.accounts import NumberSealer
from hub.auth.models import AccountRow
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.uow import Trail

SEOUL = ZoneInfo("Asia/Seoul")
RATED_KIND = "case_rated"
# Namespace of the application ids derived from a submission key (``submission_id``).
SUBMISSIONS = uuid.UUID("6f1d0c1e-5b0a-4f3e-9a43-2a7c1c0b9d17")
SUBMISSION_KEY_LIMIT = 200


def submission_id(account_id: str, form_type: str, key: str) -> str:
    """The application id a submission key stands for: the same resident, form and key always give the same
    id, so a second submit of one form page (a double click, a retried request) cannot make a second case:
    the primary key refuses it even when both run at once."""
    return str(uuid.uuid5(SUBMISSIONS, f"{account_id}\n{form_type}\n{key}"))


def korean_today() -> date:
    return datetime.now(SEOUL).date()


def invalid(exc: AnswersInvalid) -> Problem:
    return Problem(
        422,
        "validation-error",
        errors="; ".join(e.describe() for e in exc.errors[:10]),
        extra={"fields": [{"field": e.field, "code": e.code} for e in exc.errors]},
    )


def _check_text(name: str, value: str | None, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit or resident_number.contains_resident_number(value):
        code = "too_long" if len(value) > limit else "resident_number_not_allowed"
        raise Problem(422, "validation-error", errors=f"{name} ({code})")
    return value.strip()


@dataclass(frozen=True)
class Move:
    """What an official or the applicant asks of a case."""

    to: str
    note: str | None = None
    outcome: str | None = None
    due_on: date | None = None
    assignee_id: str | None = None
    answers: Mapping[str, Any] | None = None


class ApplicationService:
    def __init__(
        self,
        forms: Mapping[str, FormSpec],
        trail: Trail,
        sealer: NumberSealer,
        today: Callable[[], date] = korean_today,
    ) -> None:
        self.forms = dict(forms)
        self.trail = trail
        self.sealer = sealer
        self.today = today

    def form(self, form_type: str) -> FormSpec:
        form = self.forms.get(form_type)
        if form is None:
            raise Problem(404, "unknown-form", form_type=form_type[:64])
        return form

    # -- the record of each step ---------------------------------------------------------------------------

    async def _step(
        self,
        session: AsyncSession,
        row: ApplicationRow,
        account: AccountPrincipal,
        previous: str | None,
        kind: str,
        request_id: str,
        note: str | None = None,
    ) -> StepRow:
        actor = account_actor(account)
        basis = "self" if account.role == "resident" else f"department:{row.department}"
        if account.role == "resident" and row.mandate_id:
            basis = f"mandate:{row.mandate_id}"  # the agent acts for the principal the case names
        ref = await self.trail.record(
            session,
            AuditEvent(
                kind=kind,
                actor_kind=audit_kind(actor),
                actor_id=account.account_id,
                actor_org=account.org or None,
                subject_commitment=row.subject_commitment,
                purpose_code=f"application:{row.form_type}",
                basis=basis,
                outcome="ok",
                reason=f"application:{row.application_id}",
                request_id=request_id,
            ),
        )
        step = StepRow(
            application_id=row.application_id,
            from_status=previous,
            to_status=row.status if row.status != lifecycle.COMPLETED else f"completed:{row.outcome}",
            actor_kind=audit_kind(actor),
            actor_id=account.account_id,
            note=note,
            due_on=row.due_on,
            audit_event_id=ref.event_id,
            at=utcnow(),
        )
        session.add(step)
        await session.flush()
        return step

    # -- drafts --------------------------------------------------------------------------------------------

    async def save_draft(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        form_type: str,
        answers: Mapping[str, Any],
        sources: Mapping[str, Any] | None = None,
        counter_session_id: str | None = None,
    ) -> DraftRow:
        """Keep what the resident has typed so far (checked, but required fields may still be empty)."""
        form = self.form(form_type)
        try:
            cleaned = clean(form, answers, self.sealer, complete=False)
        except AnswersInvalid as exc:
            raise invalid(exc) from None
        now = utcnow()
        row = await repository.draft(session, account.account_id, form_type)
        if row is None:
            row = DraftRow(
                draft_id=str(uuid.uuid4()),
                account_id=account.account_id,
                form_type=form_type,
                answers={},
                prefilled={},
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        row.answers = cleaned
        kept = sources if sources is not None else (row.prefilled or {})
        row.prefilled = keep_sources(form, kept, cleaned, with_values=True)
        if counter_session_id is not None:
            row.counter_session_id = counter_session_id
        row.updated_at = now
        await session.flush()
        return row

    async def draft(
        self, session: AsyncSession, account: AccountPrincipal, form_type: str
    ) -> DraftRow | None:
        return await repository.draft(session, account.account_id, form_type)

    async def drafts(self, session: AsyncSession, account: AccountPrincipal) -> list[DraftRow]:
        return await repository.drafts_of(session, account.account_id)

    # -- submission ----------------------------------------------------------------------------------------

    async def submit(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        form_type: str,
        answers: Mapping[str, Any],
        request_id: str,
        sources: Mapping[str, Any] | None = None,
        counter_session_id: str | None = None,
        submission_key: str | None = None,
        mandate_id: str | None = None,
    ) -> ApplicationRow:
        """A complete application becomes a case (``received``), due in the form's business days.

        With a ``mandate_id`` it is a proxy application: the form must allow proxies and the applicant must
        hold that mandate, live and covering the form's records (else 403 ``case-forbidden``, ``no_proxy`` or
        ``no_mandate``); the case records the mandate and its principal.

        With a ``submission_key`` (the form page's draft, or a key of the page's own) the submit is
        idempotent: a key already submitted gives back its case, unchanged; a second submit racing the
        first is refused with 409 ``application-already-submitted`` naming the first's ``application_id``.
        """
        form = self.form(form_type)
        if account.role != "resident" or not account.subject_commitment:
            raise Problem(403, "role-required", role="resident")
        application_id = str(uuid.uuid4())
        if submission_key is not None:
            if not submission_key or len(submission_key) > SUBMISSION_KEY_LIMIT:
                raise Problem(422, "validation-error", errors="submission key (1-200 characters)")
            application_id = submission_id(account.account_id, form.type, submission_key)
            earlier = await self.submitted(session, account, application_id)
            if earlier is not None:
                return earlier
        proxy = None
        if mandate_id is not None:
            if not form.proxy_allowed:
                raise Problem(403, "case-forbidden", reason_code="no_proxy")
            documents = {document_type for document_type, _ in form.prefill_documents()}
            proxy = await held_mandate(session, account.account_id, documents, mandate_id=mandate_id[:36])
            if proxy is None:
                raise Problem(403, "case-forbidden", reason_code="no_mandate")
        try:
            cleaned = clean(form, answers, self.sealer, complete=True)
        except AnswersInvalid as exc:
            raise invalid(exc) from None
        counter = None
        if counter_session_id is not None:
            counter = await repository.form_session(session, counter_session_id, lock=True)
            if counter is not None and counter.application_id == application_id:
                # The same page submitted at once twice: the first took the counter's lock and committed.
                earlier = await self.submitted(session, account, application_id)
                if earlier is not None:
                    return earlier
            if (
                counter is None
                or counter.resident_account_id != account.account_id
                or counter.form_type != form_type
                or counter.application_id is not None
            ):
                raise Problem(410, "link-expired")
        now = utcnow()
        received_on = self.today()
        row = ApplicationRow(
            application_id=application_id,
            case_number=f"{received_on:%Y%m%d}-{secrets.token_hex(4).upper()}",
            form_type=form.type,
            department=form.department,
            status=lifecycle.RECEIVED,
            applicant_account_id=account.account_id,
            subject_commitment=account.subject_commitment,
            answers=cleaned,
            prefilled=keep_sources(form, sources or {}, cleaned),
            counter_session_id=counter_session_id,
            submitted_at=now,
            due_on=add_business_days(received_on, form.deadline_business_days),
            updated_at=now,
            paused_business_days=0,
        )
        if proxy is not None:
            row.mandate_id = proxy.mandate_id
            row.principal_commitment = proxy.principal_commitment
            row.principal_name = await principal_name(session, proxy.principal_account_id)
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # the same submission, committed by a request running beside this one
            if submission_key is None:
                raise
            raise Problem(
                409, "application-already-submitted", extra={"application_id": application_id}
            ) from None
        if counter is not None:
            counter.application_id = row.application_id
        if proxy is None:  # a proxy's case is not the agent's own draft of this form
            await repository.drop_draft(session, account.account_id, form_type)
        await self._step(session, row, account, None, "case_received", request_id)
        return row

    async def submitted(
        self, session: AsyncSession, account: AccountPrincipal, application_id: str
    ) -> ApplicationRow | None:
        """The case an earlier submit with this id made, if it is this resident's."""
        row = await repository.application(session, application_id)
        return row if row is not None and row.applicant_account_id == account.account_id else None

    # -- the lifecycle -------------------------------------------------------------------------------------

    async def _official_department(self, session: AsyncSession, account: AccountPrincipal) -> str | None:
        if account.role != "official":
            raise Problem(403, "role-required", role="official")
        return await repository.department_of(session, account.account_id)

    async def _case_for(
        self, session: AsyncSession, account: AccountPrincipal, application_id: str, *, lock: bool = False
    ) -> ApplicationRow:
        """The case as this caller may see it: its applicant, or an official of its department."""
        row = await repository.application(session, application_id, lock=lock)
        if account.role == "resident":
            if row is None or row.applicant_account_id != account.account_id:
                raise Problem(404, "application-not-found")
            return row
        department = await self._official_department(session, account)
        if row is None:
            raise Problem(404, "application-not-found")
        if department is None:
            raise Problem(403, "department-required")
        if row.department != department:
            raise Problem(403, "case-forbidden", reason_code="department")
        return row

    async def transition(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        application_id: str,
        move: Move,
        request_id: str,
    ) -> ApplicationRow:
        """Move a case along one arrow of the lifecycle, as the role that arrow belongs to."""
        if account.role not in ("official", "resident"):
            raise Problem(403, "case-forbidden", reason_code="role")
        row = await self._case_for(session, account, application_id, lock=True)
        if move.to not in lifecycle.STATES:
            raise Problem(422, "validation-error", errors="to (unknown state)")
        role = lifecycle.allowed_role(row.status, move.to)
        if role is None:
            raise Problem(409, "case-transition", current=row.status, target=move.to)
        if role != account.role:
            raise Problem(403, "case-forbidden", reason_code="role")
        note = _check_text("note", move.note, 2000)
        if move.to in lifecycle.NOTE_REQUIRED and note is None:
            raise Problem(422, "note-required", target=move.to)
        previous = row.status
        if move.to == lifecycle.EXTENDED:
            if move.due_on is None or move.due_on <= row.due_on:
                raise Problem(422, "extension-incomplete")
            row.due_on = move.due_on
        if move.to == lifecycle.COMPLETED:
            if move.outcome not in lifecycle.OUTCOMES:
                raise Problem(422, "outcome-required")
            row.outcome = move.outcome
            row.completed_at = utcnow()
        if move.to == lifecycle.ASSIGNED:
            row.assignee_account_id = await self._assignee(session, row.department, move.assignee_id, account)
        if move.to == lifecycle.SUPPLEMENTED and move.answers:
            form = self.form(row.form_type)
            before = dict(row.answers)
            try:
                row.answers = clean(form, {**row.answers, **move.answers}, self.sealer, complete=True)
            except AnswersInvalid as exc:
                raise invalid(exc) from None
            row.prefilled = {  # a supplemented value is the resident's, no longer the record's
                k: v for k, v in (row.prefilled or {}).items() if before.get(k) == row.answers.get(k)
            }
        self._pause_or_resume(row, move.to)  # after every check: a refused move changes nothing
        row.status = move.to
        row.updated_at = utcnow()
        if move.to in lifecycle.FINAL_STATES:
            # The files' retention runs from the case's end, in this move's transaction (``files.py``).
            retention = timedelta(days=self.form(row.form_type).retention_days)
            await start_retention(session, row.application_id, row.updated_at + retention)
        await session.flush()
        kind = lifecycle.audit_kind(move.to, move.outcome)
        await self._step(session, row, account, previous, kind, request_id, note)
        return row

    def _pause_or_resume(self, row: ApplicationRow, target: str) -> None:
        """The deadline does not run while the applicant supplements (보완 기간은 처리기간에 산입하지 않는다).

        Asking for a supplement notes the Korean date; the move that ends the wait (supplemented, or the
        applicant's withdrawal) moves ``due_on`` later by the business days after that date up to and
        including today, and counts them in ``paused_business_days``. A supplement given the day it was asked
        for adds nothing.
        """
        if target == lifecycle.SUPPLEMENTATION_REQUESTED:
            row.paused_on = self.today()
            return
        if row.paused_on is None or row.status != lifecycle.SUPPLEMENTATION_REQUESTED:
            return
        paused = business_days_between(row.paused_on, self.today())
        row.paused_on = None
        if target == lifecycle.SUPPLEMENTED and paused:
            row.due_on = add_business_days(row.due_on, paused)
            row.paused_business_days = (row.paused_business_days or 0) + paused

    async def _assignee(
        self, session: AsyncSession, department: str, assignee_id: str | None, account: AccountPrincipal
    ) -> str:
        if assignee_id is None or assignee_id == account.account_id:
            return account.account_id
        other = await session.get(AccountRow, assignee_id[:36])
        if (
            other is None
            or other.role != "official"
            or not other.active
            or await repository.department_of(session, other.account_id) != department
        ):
            raise Problem(422, "assignee-invalid")
        return other.account_id

    # -- satisfaction ----------------------------------------------------------------------------------------

    async def rate(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        application_id: str,
        rating: int,
        comment: str | None,
        request_id: str,
    ) -> ApplicationRow:
        """The applicant's satisfaction (1-5 and a comment), asked once after completion."""
        if account.role != "resident":
            raise Problem(403, "role-required", role="resident")
        row = await self._case_for(session, account, application_id, lock=True)
        if row.status != lifecycle.COMPLETED:
            raise Problem(409, "rating-not-open")
        if row.rating is not None:
            raise Problem(409, "rating-already-given")
        if not 1 <= rating <= 5:
            raise Problem(422, "validation-error", errors="rating (1-5)")
        row.rating = rating
        row.rating_comment = _check_text("comment", comment, 1000)
        row.rated_at = utcnow()
        row.updated_at = row.rated_at
        await session.flush()
        actor = account_actor(account)
        await self.trail.record(
            session,
            AuditEvent(
                kind=RATED_KIND,
                actor_kind=audit_kind(actor),
                actor_id=account.account_id,
                subject_commitment=row.subject_commitment,
                purpose_code=f"application:{row.form_type}",
                basis="self",
                outcome="ok",
                reason=f"application:{row.application_id}",
                request_id=request_id,
            ),
        )
        return row

    # -- reading -------------------------------------------------------------------------------------------

    async def mine(self, session: AsyncSession, account: AccountPrincipal) -> list[ApplicationRow]:
        return await repository.of_applicant(session, account.account_id)

    async def case(
        self, session: AsyncSession, account: AccountPrincipal, application_id: str
    ) -> tuple[ApplicationRow, list[StepRow]]:
        row = await self._case_for(session, account, application_id)
        return row, await repository.steps(session, row.application_id)

    async def case_locked(
        self, session: AsyncSession, account: AccountPrincipal, application_id: str
    ) -> ApplicationRow:
        """The case as :meth:`case` gives it, its row locked for the rest of the transaction (a change that
        must not interleave with a move of the case)."""
        return await self._case_for(session, account, application_id, lock=True)

    async def queue(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        *,
        status: str | None = None,
        form_type: str | None = None,
        due_by: date | None = None,
    ) -> tuple[str | None, list[ApplicationRow]]:
        """An official's department queue; an official not placed in a department has none (empty)."""
        department = await self._official_department(session, account)
        if status is not None and status not in lifecycle.STATES:
            raise Problem(422, "validation-error", errors="state (unknown)")
        if form_type is not None and form_type not in self.forms:
            raise Problem(404, "unknown-form", form_type=form_type[:64])
        if department is None:
            return None, []
        rows = await repository.queue(session, department, status=status, form_type=form_type, due_by=due_by)
        return department, rows

    async def set_department(
        self, session: AsyncSession, account_id: str, department: str, request_id: str, actor_id: str = "cli"
    ) -> None:
        """Place an official in a department (an operator's command and the demo), on the record."""
        await repository.set_department(session, account_id, department, utcnow())
        await self.trail.record(
            session,
            AuditEvent(
                kind="official_department_set",
                actor_kind="system",
                actor_id=actor_id,
                outcome="ok",
                basis=f"department:{department}",
                reason=f"account:{account_id}",
                request_id=request_id,
            ),
        )
