"""The single integrator: gives pending events dense leaf indices, stores new nodes, signs a checkpoint.

Appends only insert rows (fast, durable, concurrent). This loop then sequences them in commit order, one
transaction per round, so a round either integrates a batch completely (indices, nodes, checkpoint) or not at
all. Exactly one process integrates at a time: on PostgreSQL whoever takes the advisory lock for the round
(the others skip), on SQLite the round opens with a write so it holds the database's single writer lock
before it reads the tree size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository, tree
from audit.checkpoint import Checkpoint
from audit.events import AuditEvent, utcnow
from audit.merkle import leaf_hash
from audit.signer import LogSigner

log = logging.getLogger("gongyu.audit.integrator")
ADVISORY_LOCK_KEY = 0x6759_4C4F47  # "gYLOG"


@dataclass(frozen=True)
class RoundResult:
    integrated: int
    tree_size: int
    checkpoint_published: bool


class Integrator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        signer: LogSigner,
        batch_size: int = 2000,
        on_publish: Callable[[int], None] | None = None,
    ):
        self._sessions = sessions
        self._signer = signer
        self._batch_size = batch_size
        # Told the new tree size once a round's checkpoint is committed (e.g. to wake the witnessing task);
        # it must return at once: the writer's loop never waits for what happens after publication.
        self.on_publish = on_publish

    async def integrate_once(self) -> RoundResult:
        async with self._sessions() as session, session.begin():
            if not await repository.take_writer_lock(session, ADVISORY_LOCK_KEY):
                return RoundResult(0, -1, False)
            size = await repository.tree_size(session)
            pending = await repository.pending_events(session, self._batch_size)
            latest = await repository.latest_checkpoint(session)
            if not pending and latest is not None and latest.tree_size == size:
                return RoundResult(0, size, False)
            leaves = [leaf_hash(AuditEvent.from_row(row).leaf_bytes()) for row in pending]
            right_edge = await repository.read_nodes(session, tree.range_nodes(0, size))
            created = tree.integrate(
                size, leaves, lambda ids: {i: right_edge[i] for i in ids if i in right_edge}
            )
            await repository.assign_leaf_indices(
                session, [(row.seq, size + i) for i, row in enumerate(pending)]
            )
            await repository.insert_nodes(session, created)
            new_size = size + len(leaves)
            all_nodes = {**right_edge, **created}
            root = tree.root(new_size, lambda ids: {i: all_nodes[i] for i in ids if i in all_nodes})
            note = self._signer.sign(Checkpoint(self._signer.origin, new_size, root))
            await repository.insert_checkpoint(session, new_size, root, note, utcnow())
            return RoundResult(len(leaves), new_size, True)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Integrate until stopped; errors are logged (by type) and retried on the next tick."""
        while not stop.is_set():
            try:
                result = await self.integrate_once()
                if result.checkpoint_published and self.on_publish is not None:
                    self.on_publish(result.tree_size)
                if result.integrated >= self._batch_size:
                    continue  # backlog: go again at once
            except Exception as exc:
                log.warning("integration round failed", extra={"error_type": type(exc).__name__})
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
