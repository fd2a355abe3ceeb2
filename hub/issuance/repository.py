"""All SQL of the ``issuances`` table."""

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

    async def reserve(self, row: IssuanceRow) -> bool:
        """Insert a pending row; False when the number is taken (the caller draws another)."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def update(self, number: str, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(IssuanceRow).where(IssuanceRow.number == number).values(**values))

    async def get(self, number: str) -> IssuanceRow | None:
        async with self._sessions() as session:
            return (
                await session.execute(select(IssuanceRow).where(IssuanceRow.number == number))
            ).scalar_one_or_none()

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

    async def revoke(self, number: str, by: str, reason: str, at: datetime) -> bool:
        """Valid → revoked, atomically; False if it was not valid (unknown, pending or already revoked)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(IssuanceRow)
                .where(IssuanceRow.number == number, IssuanceRow.status == "valid")
                .values(status="revoked", revoked_at=at, revoked_by=by, revocation_reason=reason)
            )
        return bool(getattr(result, "rowcount", 0))

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
