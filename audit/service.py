"""The audit package's interface for the hub: read the log, its checkpoints and proofs.

Appending stays in ``audit.log``; integration in ``audit.integrator``. Callers get plain values and
``BadRange``/``LookupError``, never rows or sessions.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import export, history, proofs, repository, tree
from audit.events import AuditEvent
from audit.proofs import BadRange
from audit.signer import LogSigner

__all__ = ["AuditReader", "BadRange", "PublishedCheckpoint"]


@dataclass(frozen=True)
class PublishedCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True)
class Leaf:
    leaf_index: int
    leaf_bytes: bytes
    subject_commitment: str | None


class AuditReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], signer: LogSigner) -> None:
        self._sessions = sessions
        self.signer = signer

    async def latest_checkpoint(self) -> PublishedCheckpoint | None:
        async with self._sessions() as session:
            row = await repository.latest_checkpoint(session)
        return PublishedCheckpoint(row.tree_size, bytes(row.root_hash), row.note) if row else None

    async def _published_size(self, session: AsyncSession) -> int:
        row = await repository.latest_checkpoint(session)
        return row.tree_size if row else 0

    async def inclusion_proof(self, leaf_index: int, tree_size: int | None) -> tuple[int, list[bytes]]:
        async with self._sessions() as session:
            published = await self._published_size(session)
            size = published if tree_size is None else tree_size
            return size, await proofs.inclusion(session, leaf_index, size, published)

    async def consistency_proof(self, first: int, second: int | None) -> tuple[int, list[bytes]]:
        async with self._sessions() as session:
            published = await self._published_size(session)
            size = published if second is None else second
            return size, await proofs.consistency(session, first, size, published)

    async def leaf(self, leaf_index: int) -> Leaf | None:
        async with self._sessions() as session:
            published = await self._published_size(session)
            if not 0 <= leaf_index < published:
                return None
            row = await repository.event_by_leaf(session, leaf_index)
        if row is None:
            return None
        return Leaf(leaf_index, AuditEvent.from_row(row).leaf_bytes(), row.subject_commitment)

    async def root_at(self, size: int) -> bytes:
        async with self._sessions() as session:
            published = await self._published_size(session)
            if not 0 <= size <= published:
                raise BadRange(f"need 0 <= tree_size <= {published}")
            nodes = await repository.read_nodes(session, tree.range_nodes(0, size))
        return tree.root(size, lambda ids: nodes)

    def export_stream(
        self, filters: export.ExportFilter, size: int, fmt: export.Format
    ) -> AsyncIterator[bytes]:
        return export.stream(self._sessions, filters, size, fmt)

    async def export_manifest(
        self, filters: export.ExportFilter, size: int, fmt: export.Format
    ) -> export.Manifest:
        root = await self.root_at(size)
        return await export.manifest(self._sessions, filters, size, base64.b64encode(root).decode(), fmt)

    async def history(
        self,
        subject_commitment: str,
        now: datetime,
        filters: history.HistoryFilter,
        cursor: str | None,
        limit: int,
    ) -> history.HistoryPage:
        async with self._sessions() as session:
            return await history.page(session, subject_commitment, now, filters, cursor, limit)
