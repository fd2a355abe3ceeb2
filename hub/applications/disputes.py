"""Disputes of an access: a resident's "I did not expect this access" about one entry of their history.

A dispute is a case of type ``access_dispute`` with its own table (``access_disputes``, migration 0016): the
application cases' table is keyed by form, department and answers, none of which a dispute has. It is routed
to the privacy officers (account role ``privacy_officer``) of the organisation that made the access, the
``actor_org`` of the disputed log entry, read through the audit package's public reader (``AuditReader``):
the entry's leaf, its inclusion proof and the signed checkpoint it is proven against are stored with the
dispute as filed, so the officer and an auditor can check the entry without trusting the hub's tables.

Lifecycle (one table, like the application cases'):
``open → justified | error_acknowledged | escalated``; ``escalated → justified | error_acknowledged``. The
officer of the organisation answers an open dispute or escalates it to the auditors; an auditor answers an
escalated one. A "justified" answer must name its basis (the statute, consent or mandate the access stood
on). Every step is one audit event through ``Trail.record`` in the caller's session, so the resident is
notified of each exactly when it commits. Nothing here commits.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from audit import AuditEvent
from audit.events import ActorKind, iso, utcnow
from audit.merkle import leaf_hash
from audit.service import AuditReader, BadRange, Withheld
from hub import resident_number
from hub.applications.models import ApplicationsBase
from hub.auth.models import AccountRow
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem
from hub.notify import outbox
from hub.uow import Trail

CASE_TYPE: Final = "access_dispute"
PRIVACY_OFFICER: Final = "privacy_officer"

OPEN: Final = "open"
ESCALATED: Final = "escalated"
JUSTIFIED: Final = "justified"
ERROR_ACKNOWLEDGED: Final = "error_acknowledged"
STATES: Final = (OPEN, ESCALATED, JUSTIFIED, ERROR_ACKNOWLEDGED)
CLOSED: Final = frozenset({JUSTIFIED, ERROR_ACKNOWLEDGED})

Action = Literal["justified", "error_acknowledged", "escalated"]
AnswerRole = Literal["privacy_officer", "auditor"]

# (from, to) -> who may make the move: the organisation's officer first, an auditor once escalated.
MOVES: Final[dict[tuple[str, str], AnswerRole]] = {
    (OPEN, JUSTIFIED): "privacy_officer",
    (OPEN, ERROR_ACKNOWLEDGED): "privacy_officer",
    (OPEN, ESCALATED): "privacy_officer",
    (ESCALATED, JUSTIFIED): "auditor",
    (ESCALATED, ERROR_ACKNOWLEDGED): "auditor",
}

# Audit (and notice) kinds, one per step; at most 32 characters like every audit kind.
FILED_KIND: Final = "dispute_filed"
KINDS: Final = frozenset({FILED_KIND, *(f"dispute_{s}" for s in (ESCALATED, JUSTIFIED, ERROR_ACKNOWLEDGED))})
REASON_LIMIT: Final = 2000
BASIS_LIMIT: Final = 200
# What of the disputed entry is kept beside the leaf for the pages (the leaf itself stays the evidence).
ENTRY_FIELDS: Final = (
    "event_id",
    "kind",
    "occurred_at",
    "actor_kind",
    "actor_org",
    "document_type",
    "view",
    "purpose_code",
    "basis",
    "outcome",
)

BigInt = BigInteger().with_variant(Integer(), "sqlite")


class DisputeRow(ApplicationsBase):
    """One dispute of one log entry (``leaf_index`` unique: an entry is disputed once)."""

    __tablename__ = "access_disputes"

    dispute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(BigInt, unique=True)
    event_id: Mapped[str] = mapped_column(String(36))
    resident_account_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_commitment: Mapped[str] = mapped_column(String(64))
    org: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(32), index=True)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"tree_size", "hashes", "leaf", "leaf_hash", "checkpoint"}: the entry proven against a signed checkpoint
    proof: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer: Mapped[str | None] = mapped_column(String(2000))
    answer_basis: Mapped[str | None] = mapped_column(String(200))
    answered_by: Mapped[str | None] = mapped_column(String(36))
    # [{"status", "at", "actor_kind", "event_id"}, ...]: each step and its audit event
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Answer:
    """What an officer or an auditor says of a dispute."""

    action: Action
    text: str | None = None
    basis: str | None = None


def _text(name: str, value: str | None, limit: int, *, required: bool) -> str | None:
    """Free text on the record: trimmed, bounded, and never carrying a resident registration number."""
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise Problem(422, "validation-error", errors=f"{name} (missing)")
        return None
    if len(cleaned) > limit:
        raise Problem(422, "validation-error", errors=f"{name} (too_long)")
    if resident_number.contains_resident_number(cleaned):
        raise Problem(422, "validation-error", errors=f"{name} (resident_number_not_allowed)")
    return cleaned


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment


def dispute_json(row: DisputeRow) -> dict[str, Any]:
    """One dispute as the API and the pages show it: the entry, the proof as filed, each step and its time."""
    filed, escalated, answered = _aware(row.filed_at), _aware(row.escalated_at), _aware(row.answered_at)
    return {
        "dispute_id": row.dispute_id,
        "case_type": CASE_TYPE,
        "leaf_index": row.leaf_index,
        "event_id": row.event_id,
        "org": row.org,
        "reason": row.reason,
        "status": row.status,
        "entry": dict(row.entry),
        "inclusion_proof": dict(row.proof),
        "answer": row.answer,
        "answer_basis": row.answer_basis,
        "filed_at": iso(filed) if filed else None,
        "escalated_at": iso(escalated) if escalated else None,
        "answered_at": iso(answered) if answered else None,
        "answer_seconds": (answered - filed).total_seconds() if answered and filed else None,
        "history": list(row.steps),
    }


class DisputeService:
    def __init__(self, reader: AuditReader, trail: Trail) -> None:
        self.reader = reader
        self.trail = trail

    # -- filing -------------------------------------------------------------------------------------------

    async def evidence(
        self, leaf_index: int, resident: AccountPrincipal
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The disputed entry and its proof, read through the audit reader before anything is written.

        An index beyond the signed log, a withheld entry and an index with nothing in it read alike (404), as
        on the leaves API; an entry of someone else's records is refused as such (indices are public, what
        an entry concerns is not shown).
        """
        now = utcnow()
        leaf = await self.reader.leaf(leaf_index) if leaf_index >= 0 else None
        if leaf is None or leaf.withheld_at(now):
            raise Problem(404, "leaf-not-found")
        if leaf.subject_commitment != resident.subject_commitment:
            raise Problem(403, "dispute-not-yours")
        checkpoint = await self.reader.latest_checkpoint()
        if checkpoint is None:  # a leaf is only served once a checkpoint covers it; read as absent if not
            raise Problem(404, "leaf-not-found")
        try:
            size, hashes = await self.reader.inclusion_proof(leaf_index, checkpoint.tree_size, visible_at=now)
        except (BadRange, Withheld):
            raise Problem(404, "leaf-not-found") from None
        event = json.loads(leaf.leaf_bytes)
        entry = {key: event.get(key) for key in ENTRY_FIELDS}
        proof = {
            "tree_size": size,
            "hashes": [base64.b64encode(h).decode() for h in hashes],
            "leaf": base64.b64encode(leaf.leaf_bytes).decode(),
            "leaf_hash": base64.b64encode(leaf_hash(leaf.leaf_bytes)).decode(),
            "checkpoint": checkpoint.note,
        }
        return entry, proof

    async def file(
        self,
        session: AsyncSession,
        resident: AccountPrincipal,
        leaf_index: int,
        reason: str,
        request_id: str,
    ) -> DisputeRow:
        """Dispute one entry of the resident's own history; refused if not theirs, unknown, or disputed."""
        assert resident.subject_commitment is not None
        text = _text("reason", reason, REASON_LIMIT, required=True)
        assert text is not None
        entry, proof = await self.evidence(leaf_index, resident)
        org = entry.get("actor_org")
        if not org:  # the resident's own step, or the hub's sweep: no organisation to answer for it
            raise Problem(422, "dispute-not-routable")
        if await self.disputed(session, leaf_index):
            raise Problem(409, "dispute-exists")
        now = utcnow()
        row = DisputeRow(
            dispute_id=str(uuid.uuid4()),
            leaf_index=leaf_index,
            event_id=str(entry["event_id"]),
            resident_account_id=resident.account_id,
            subject_commitment=resident.subject_commitment,
            org=str(org)[:200],
            reason=text,
            status=OPEN,
            entry=entry,
            proof=proof,
            steps=[],
            filed_at=now,
        )
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # a second request for the same entry committed first
            raise Problem(409, "dispute-exists") from None
        await self._record(session, row, FILED_KIND, "resident", resident, request_id)
        return row

    # -- answering ------------------------------------------------------------------------------------------

    async def answer(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        dispute_id: str,
        answer: Answer,
        request_id: str,
    ) -> DisputeRow:
        """The organisation's officer answers or escalates; an auditor answers what was escalated."""
        row = await self._visible(session, account, dispute_id, lock=True)
        role = MOVES.get((row.status, answer.action))
        if role is None or role != account.role:
            raise Problem(409, "dispute-wrong-step", state=row.status, action=answer.action)
        text = _text("answer", answer.text, REASON_LIMIT, required=True)
        basis = _text("basis", answer.basis, BASIS_LIMIT, required=answer.action == JUSTIFIED)
        now = utcnow()
        row.status = answer.action
        if answer.action == ESCALATED:
            row.escalated_at = now
            row.answer = text  # why it was escalated, until an auditor answers
        else:
            row.answered_at = now
            row.answer = text
            row.answer_basis = basis if answer.action == JUSTIFIED else None
            row.answered_by = account.account_id
        actor_kind: ActorKind = "auditor" if account.role == "auditor" else "official"
        await self._record(session, row, f"dispute_{answer.action}", actor_kind, account, request_id)
        return row

    async def _record(
        self,
        session: AsyncSession,
        row: DisputeRow,
        kind: str,
        actor_kind: ActorKind,
        account: AccountPrincipal,
        request_id: str,
    ) -> None:
        """The step's audit event (the resident is its subject: they are notified) and its line in steps."""
        ref = await self.trail.record(
            session,
            AuditEvent(
                kind=kind,
                actor_kind=actor_kind,
                actor_id=account.account_id,
                actor_org=None if actor_kind == "resident" else (account.org or None),
                subject_commitment=row.subject_commitment,
                document_type=row.entry.get("document_type"),
                purpose_code=CASE_TYPE,
                basis=f"dispute:{row.dispute_id}",
                outcome="ok",
                reason=f"leaf:{row.leaf_index}",
                request_id=request_id,
            ),
        )
        # A new list, so the JSON column is seen as changed.
        row.steps = [
            *row.steps,
            {"status": row.status, "at": iso(utcnow()), "actor_kind": actor_kind, "event_id": ref.event_id},
        ]
        await session.flush()

    # -- reading ---------------------------------------------------------------------------------------------

    async def _visible(
        self, session: AsyncSession, account: AccountPrincipal, dispute_id: str, *, lock: bool = False
    ) -> DisputeRow:
        """A dispute the account may act on: its organisation's for an officer, any for an auditor."""
        query = select(DisputeRow).where(DisputeRow.dispute_id == dispute_id)
        if lock:
            query = query.with_for_update()  # an officer and an auditor at once: the second sees the first
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None or not (
            account.role == "auditor" or (account.role == PRIVACY_OFFICER and row.org == account.org)
        ):
            raise Problem(404, "dispute-not-found")
        return row

    async def disputed(self, session: AsyncSession, leaf_index: int) -> bool:
        """Whether the entry at ``leaf_index`` is disputed already (a dispute per entry)."""
        found = await session.execute(
            select(DisputeRow.dispute_id).where(DisputeRow.leaf_index == leaf_index)
        )
        return found.first() is not None

    async def get(self, session: AsyncSession, account: AccountPrincipal, dispute_id: str) -> DisputeRow:
        return await self._visible(session, account, dispute_id)

    async def of_resident(self, session: AsyncSession, resident: AccountPrincipal) -> list[DisputeRow]:
        found = await session.execute(
            select(DisputeRow)
            .where(DisputeRow.resident_account_id == resident.account_id)
            .order_by(DisputeRow.filed_at.desc())
        )
        return list(found.scalars())

    async def disputed_leaves(self, session: AsyncSession, resident: AccountPrincipal) -> dict[int, str]:
        """Leaf index -> status of the resident's disputes (the history page marks those entries)."""
        found = await session.execute(
            select(DisputeRow.leaf_index, DisputeRow.status).where(
                DisputeRow.resident_account_id == resident.account_id
            )
        )
        return {int(index): status for index, status in found.all()}

    async def queue(
        self, session: AsyncSession, account: AccountPrincipal, status: str | None = None, limit: int = 500
    ) -> list[DisputeRow]:
        """An officer's organisation's disputes, or every dispute for an auditor; oldest open first."""
        if status is not None and status not in STATES:
            raise Problem(422, "validation-error", errors="status (unknown)")
        query = select(DisputeRow)
        if account.role == PRIVACY_OFFICER:
            query = query.where(DisputeRow.org == (account.org or ""))
        elif account.role != "auditor":
            raise Problem(403, "role-required", role=PRIVACY_OFFICER)
        if status is not None:
            query = query.where(DisputeRow.status == status)
        query = query.order_by(DisputeRow.filed_at).limit(limit)
        return list((await session.execute(query)).scalars())


# -- who among the staff hears of a step (``outbox.announce_staff``) -----------------------------------------


async def _dispute_of(session: AsyncSession, event: AuditEvent) -> tuple[str, str] | None:
    dispute_id = (event.basis or "").removeprefix("dispute:")
    found = await session.execute(select(DisputeRow.org).where(DisputeRow.dispute_id == dispute_id))
    org = found.scalar_one_or_none()
    return (dispute_id, org) if org is not None else None


async def _staff_of(session: AsyncSession, event: AuditEvent, role: str) -> tuple[list[str], dict[str, Any]]:
    dispute = await _dispute_of(session, event)
    if dispute is None:
        return [], {}
    query = select(AccountRow.account_id).where(AccountRow.role == role, AccountRow.active.is_(True))
    if role == PRIVACY_OFFICER:
        query = query.where(AccountRow.org == dispute[1])
    found = await session.execute(query.order_by(AccountRow.account_id))
    return [str(a) for a in found.scalars()], {"dispute_id": dispute[0], "recipient_org": dispute[1]}


async def _privacy_officers(session: AsyncSession, event: AuditEvent) -> tuple[list[str], dict[str, Any]]:
    """A new dispute: every privacy officer of the organisation that made the disputed access."""
    return await _staff_of(session, event, PRIVACY_OFFICER)


async def _auditors(session: AsyncSession, event: AuditEvent) -> tuple[list[str], dict[str, Any]]:
    """An escalated dispute: every auditor (they answer what an organisation's officer escalated)."""
    return await _staff_of(session, event, "auditor")


outbox.route_to_staff(FILED_KIND, _privacy_officers)
outbox.route_to_staff(f"dispute_{ESCALATED}", _auditors)
