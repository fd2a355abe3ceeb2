"""All SQL of the ``issuances`` table.

Two kinds of method, by whose transaction they run in. Those taking a ``session`` write or read inside the
caller's unit of work (the request's, see ``hub.uow``), so that a state change commits together with its
audit event. The others open their own short session: the number reservation and the ``failed`` mark (both
must survive the request's rollback), reads outside a request (the PDF download, QR verification), and the
retention purge (housekeeping, never part of anyone's change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from hub.issuance.models import IssuanceRow


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class IssuanceRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- own short transactions ---

    async def reserve(self, row: IssuanceRow) -> bool:
        """Insert a pending row in its own committed transaction; False when the number is taken.

        Committed at once so that the number is burnt whatever happens to the request: a drawn number is
        never handed to a second document, and a row left ``pending`` verifies as unknown.
        """
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def mark_failed(self, number: str) -> None:
        """A pending row whose issuance did not complete: in its own transaction (the request rolled back)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(IssuanceRow)
                .where(IssuanceRow.number == number, IssuanceRow.status == "pending")
                .values(status="failed")
            )

    async def get(self, number: str) -> IssuanceRow | None:
        """Read outside any unit of work (the PDF download, QR verification, tests)."""
        async with self._sessions() as session:
            return await self.get_in(session, number)

    async def requested_by(self, requester_id: str, limit: int = 50) -> list[IssuanceRow]:
        """The newest documents one requester was issued (a resident's own e-documents page)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(IssuanceRow)
                .options(defer(IssuanceRow.pdf_enc), defer(IssuanceRow.content_enc))  # listing, not content
                .where(IssuanceRow.requester_id == requester_id, IssuanceRow.status.in_(("valid", "revoked")))
                .order_by(IssuanceRow.issued_at.desc())
                .limit(limit)
            )
            return list(rows.scalars())

    async def purge_expired(self, now: datetime) -> int:
        """Drop the content of every issuance past its retention window; the metadata stays."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(IssuanceRow)
                .where(
                    IssuanceRow.retain_until < now,
                    (IssuanceRow.content_enc.is_not(None)) | (IssuanceRow.pdf_enc.is_not(None)),
                )
                .values(content_enc=None, pdf_enc=None)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- in the caller's unit of work ---

    async def get_in(self, session: AsyncSession, number: str) -> IssuanceRow | None:
        return (
            await session.execute(select(IssuanceRow).where(IssuanceRow.number == number))
        ).scalar_one_or_none()

    async def complete(self, session: AsyncSession, number: str, **values: Any) -> bool:
        """Pending → valid with its content, in the caller's transaction (beside the issuance event).

        False if the row was not pending (marked failed meanwhile): the caller must not hand it out.
        """
        result = await session.execute(
            update(IssuanceRow)
            .where(IssuanceRow.number == number, IssuanceRow.status == "pending")
            .values(status="valid", **values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke(self, session: AsyncSession, number: str, by: str, reason: str, at: datetime) -> bool:
        """Valid → revoked in the caller's transaction; False if it was not valid (pending, revoked…)."""
        result = await session.execute(
            update(IssuanceRow)
            .where(IssuanceRow.number == number, IssuanceRow.status == "valid")
            .values(status="revoked", revoked_at=at, revoked_by=by, revocation_reason=reason)
        )
        return bool(getattr(result, "rowcount", 0))
