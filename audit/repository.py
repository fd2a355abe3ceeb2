"""All SQL on the audit tables lives here; the rest of the package works on plain values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from audit.models import AuditCheckpointRow, AuditEventRow, AuditNodeRow
from audit.tree import NodeId


async def tree_size(session: AsyncSession) -> int:
    highest = (await session.execute(select(func.max(AuditEventRow.leaf_index)))).scalar_one_or_none()
    return 0 if highest is None else int(highest) + 1


async def read_nodes(session: AsyncSession, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
    wanted = sorted(set(ids))
    found: dict[NodeId, bytes] = {}
    # Chunked so a pathological request cannot build an unbounded IN list.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await session.execute(
            select(AuditNodeRow.level, AuditNodeRow.idx, AuditNodeRow.hash).where(
                tuple_(AuditNodeRow.level, AuditNodeRow.idx).in_(chunk)
            )
        )
        found.update({(int(level), int(idx)): bytes(digest) for level, idx, digest in rows})
    return found


async def pending_events(session: AsyncSession, limit: int) -> Sequence[Any]:
    """Unintegrated events in append order, as Core rows (attribute access, no ORM identity map)."""
    result = await session.execute(
        select(AuditEventRow.__table__)
        .where(AuditEventRow.leaf_index.is_(None))
        .order_by(AuditEventRow.seq)
        .limit(limit)
    )
    return result.all()


async def assign_leaf_indices(session: AsyncSession, assignments: Sequence[tuple[int, int]]) -> None:
    """``(seq, leaf_index)`` pairs; only rows still unassigned are touched."""
    if not assignments:
        return
    table = AuditEventRow.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(table.c.seq == bindparam("b_seq"), table.c.leaf_index.is_(None))
        .values(leaf_index=bindparam("b_leaf"))
    )
    # One executemany round trip instead of one statement per row.
    await session.execute(statement, [{"b_seq": seq, "b_leaf": leaf} for seq, leaf in assignments])


async def insert_nodes(session: AsyncSession, nodes: dict[NodeId, bytes]) -> None:
    if nodes:
        await session.execute(
            insert(AuditNodeRow), [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in nodes.items()]
        )


async def insert_checkpoint(session: AsyncSession, size: int, root: bytes, note: str, at: datetime) -> None:
    await session.execute(
        insert(AuditCheckpointRow).values(tree_size=size, root_hash=root, note=note, created_at=at)
    )


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpointRow | None:
    result = await session.execute(
        select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size.desc()).limit(1)
    )
    return result.scalar_one_or_none()


async def checkpoint_at(session: AsyncSession, size: int) -> AuditCheckpointRow | None:
    return await session.get(AuditCheckpointRow, size)


async def event_by_leaf(session: AsyncSession, leaf_index: int) -> AuditEventRow | None:
    result = await session.execute(select(AuditEventRow).where(AuditEventRow.leaf_index == leaf_index))
    return result.scalar_one_or_none()


def row_dict(row: AuditEventRow) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in AuditEventRow.__table__.columns}
