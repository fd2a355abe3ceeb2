"""The audit package's interface for the hub: read the log, its checkpoints and proofs.

Appending stays in ``audit.log``; integration in ``audit.integrator``. Callers get plain values and
``BadRange``/``LookupError``, never rows or sessions.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import export, history, listing, proofs, repository, tree
from audit.events import AuditEvent
from audit.filters import EventFilter
from audit.proofs import BadRange
from audit.signer import LogSigner
from audit.tiles import WIDTH, TileId, encode_bundle

__all__ = ["AuditReader", "BadRange", "EventFilter", "Leaf", "LogStatus", "PublishedCheckpoint", "Withheld"]


@dataclass(frozen=True)
class PublishedCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str


@dataclass(frozen=True)
class LogStatus:
    """The latest signed checkpoint and how far the integrator is behind the committed events.

    ``pending`` counts committed events the checkpoint does not cover yet; ``lag_seconds`` is the age of the
    oldest of them (None when there are none).
    """

    tree_size: int
    root_hash: bytes | None
    checkpoint_note: str | None
    checkpoint_at: datetime | None
    pending: int
    oldest_pending_at: datetime | None
    lag_seconds: float | None


class Withheld(LookupError):
    """The leaf exists but its disclosure is delayed (``visible_from`` in the future): answer as if absent."""


@dataclass(frozen=True)
class Leaf:
    leaf_index: int
    leaf_bytes: bytes
    subject_commitment: str | None
    visible_from: datetime | None = None

    def withheld_at(self, now: datetime) -> bool:
        """True while the event's disclosure is delayed; only an auditor may read it before then.

        The resident's history withholds such entries (``repository.event_page``); serving the leaf by its
        index would give away what the history hides, so every face that hands out leaves asks this too.
        """
        return self.visible_from is not None and self.visible_from > now


class AuditReader:
    """Reads for the hub's requests. Holds the tree's upper levels in memory (``proofs.UpperLevels``), checked
    against each newer signed root before use, so a proof reads only its nodes below them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        signer: LogSigner,
        *,
        upper: proofs.UpperLevels | None = None,
    ) -> None:
        self._sessions = sessions
        self.signer = signer
        self.upper = upper if upper is not None else proofs.UpperLevels()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; on PostgreSQL in autocommit, so a request makes no BEGIN and no ROLLBACK.

        That is two of a history page's or a proof's five round trips. Nothing is lost: under READ COMMITTED
        each statement took its own snapshot anyway, and what these reads combine (stored nodes, integrated
        leaves, checkpoints) is never changed once written.
        """
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    async def latest_checkpoint(self) -> PublishedCheckpoint | None:
        async with self._reading() as session:
            row = await repository.latest_checkpoint(session)
        return PublishedCheckpoint(row.tree_size, bytes(row.root_hash), row.note) if row else None

    async def log_status(self, now: datetime) -> LogStatus:
        async with self._reading() as session:
            row = await repository.latest_checkpoint(session)
            size = row.tree_size if row else 0
            pending, oldest = await repository.pending_summary(session, size)
        checkpoint_at = None
        if row is not None:
            checkpoint_at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
        return LogStatus(
            size,
            bytes(row.root_hash) if row else None,
            row.note if row else None,
            checkpoint_at,
            pending,
            oldest,
            lag,
        )

    async def _published_size(self, session: AsyncSession) -> int:
        return (await self._published(session))[0]

    async def _published(self, session: AsyncSession) -> tuple[int, bytes | None]:
        """The latest checkpoint's size and root (None when there is no checkpoint yet)."""
        row = await repository.latest_checkpoint(session)
        return (row.tree_size, bytes(row.root_hash)) if row else (0, None)

    async def inclusion_proof(
        self, leaf_index: int, tree_size: int | None, *, visible_at: datetime | None = None
    ) -> tuple[int, list[bytes]]:
        """The proof for ``leaf_index``; with ``visible_at``, ``Withheld`` for a leaf not disclosed by then.

        Callers other than an auditor pass ``visible_at`` (now): a withheld entry is not confirmed by index,
        whether through its leaf or its proof. ``BadRange`` is checked first, as before.
        """
        async with self._reading() as session:
            # The checkpoint and the leaf's disclosure time in one round trip, then the proof's nodes.
            published, root, visible_from = await repository.published_with_visibility(session, leaf_index)
            size = published if tree_size is None else tree_size
            hashes = await proofs.inclusion(
                session, leaf_index, size, published, published_root=root, upper=self.upper
            )
            if visible_at is not None and visible_from is not None and visible_from > visible_at:
                raise Withheld(leaf_index)
            return size, hashes

    async def consistency_proof(self, first: int, second: int | None) -> tuple[int, list[bytes]]:
        async with self._reading() as session:
            published, root = await self._published(session)
            size = published if second is None else second
            return size, await proofs.consistency(
                session, first, size, published, published_root=root, upper=self.upper
            )

    async def leaf(self, leaf_index: int) -> Leaf | None:
        return (await self.leaves([leaf_index])).get(leaf_index)

    async def leaves(self, leaf_indices: Iterable[int]) -> dict[int, Leaf]:
        """The published leaves among ``leaf_indices``, by index, in two statements however many are asked.

        Indices beyond the latest checkpoint are left out, as if absent: a leaf is only served once it is
        part of a signed tree.
        """
        async with self._reading() as session:
            published = await self._published_size(session)
            wanted = [i for i in set(leaf_indices) if 0 <= i < published]
            rows = await repository.events_by_leaves(session, wanted) if wanted else {}
        leaves = {}
        for index, row in rows.items():
            event = AuditEvent.from_row(row)
            leaves[index] = Leaf(index, event.leaf_bytes(), row.subject_commitment, event.visible_from)
        return leaves

    async def root_at(self, size: int) -> bytes:
        async with self._reading() as session:
            published = await self._published_size(session)
            if not 0 <= size <= published:
                raise BadRange(f"need 0 <= tree_size <= {published}")
            nodes = await repository.read_nodes(session, tree.range_nodes(0, size))
        return tree.root(size, lambda ids: nodes)

    async def hash_tile(self, tile: TileId) -> bytes | None:
        """A C2SP hash tile's bytes from the stored nodes; None unless the latest checkpoint covers all of it.

        Only what a signed checkpoint covers is served, so every tile is final the moment it exists: a full
        tile never changes, a partial tile of width W is the same bytes forever (it just stops being the
        newest).
        """
        if tile.level is None:
            raise ValueError("entry bundles are read with entry_bundle")
        async with self._reading() as session:
            if tile.needs_size() > await self._published_size(session):
                return None
            return await repository.level_blob(
                session, tile.node_level, tile.first_node, tile.first_node + tile.width
            )

    async def entry_bundle(self, tile: TileId) -> bytes | None:
        """A C2SP entry bundle: each leaf's RFC 8785 bytes after its uint16 length; None if absent.

        Holds every field the leaf holds (subject commitments, actors, purposes, withheld entries too): only
        an auditor may be given it. None when a signed checkpoint does not cover it or a row is missing.
        """
        if tile.level is not None or tile.width > WIDTH:
            raise ValueError("not an entry bundle")
        async with self._reading() as session:
            if tile.needs_size() > await self._published_size(session):
                return None
            first = tile.first_node
            records = await repository.leaf_records(session, first - 1, tile.width, first + tile.width)
        if len(records) != tile.width:
            return None
        return encode_bundle([repository.leaf_bytes(record) for record in records])

    def export_stream(self, filters: EventFilter, size: int, fmt: export.Format) -> AsyncIterator[bytes]:
        return export.stream(self._sessions, filters, size, fmt)

    async def export_manifest(self, filters: EventFilter, size: int, fmt: export.Format) -> export.Manifest:
        root = await self.root_at(size)
        return await export.manifest(self._sessions, filters, size, base64.b64encode(root).decode(), fmt)

    async def history(
        self,
        subject_commitment: str,
        now: datetime,
        filters: EventFilter,
        cursor: str | None,
        limit: int,
    ) -> history.HistoryPage:
        async with self._reading() as session:
            return await history.page(
                session, subject_commitment, now, filters, cursor, limit, upper=self.upper
            )

    async def events(self, filters: EventFilter, cursor: str | None, limit: int) -> listing.EventPage:
        """Every event as an auditor sees it, newest first; ``ValueError`` for a malformed cursor."""
        async with self._reading() as session:
            return await listing.page(session, filters, cursor, limit)
