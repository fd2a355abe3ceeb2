"""Check the whole log from the stored events, trusting nothing but the log's public key.

Every leaf is recomputed from its row, the tree is rebuilt, every checkpoint's signature and root are checked
against the rebuilt tree (which makes consecutive checkpoints consistent by construction), and every stored
node is compared with its recomputation. Findings name the exact leaf (or node) so an operator knows which row
was edited, deleted, inserted or moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.checkpoint import CheckpointError, verify_checkpoint
from audit.events import AuditEvent
from audit.merkle import leaf_hash, node_hash
from audit.models import AuditCheckpointRow, AuditEventRow, AuditNodeRow
from audit.tree import fold

Progress = Callable[[int, int], None]
_MISSING = bytes(32)


@dataclass(frozen=True)
class Finding:
    # edited, reordered, deleted, inserted, checkpoint-signature, checkpoint-root or node-mismatch
    kind: str
    leaf_index: int | None
    detail: str


@dataclass
class Report:
    tree_size: int = 0
    leaves_checked: int = 0
    checkpoints_checked: int = 0
    nodes_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _pairs(rows: Sequence[Any]) -> dict[int, bytes]:
    return {int(idx): bytes(digest) for idx, digest in rows}


class _Edge:
    """The right edge of a tree being rebuilt leaf by leaf: O(log n) memory for any checkpoint's root."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing

    def push(self, digest: bytes) -> None:
        height = 0
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            digest = node_hash(left, digest)
            height += 1
        self.stack.append((height, digest))

    def root(self) -> bytes:
        return fold([h for _, h in self.stack])


async def verify_log(
    sessions: async_sessionmaker[AsyncSession],
    verifier_key: str,
    progress: Progress | None = None,
    batch_size: int = 10_000,
) -> Report:
    report = Report()
    async with sessions() as session:
        checkpoints = (
            (await session.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size)))
            .scalars()
            .all()
        )
        highest = (await session.execute(select(func.max(AuditEventRow.leaf_index)))).scalar_one_or_none()
        expected = 0 if highest is None else int(highest) + 1
        published = checkpoints[-1].tree_size if checkpoints else 0
        report.tree_size = published

        for cp in checkpoints:
            report.checkpoints_checked += 1
            try:
                parsed = verify_checkpoint(cp.note, verifier_key)
            except CheckpointError as exc:
                report.findings.append(
                    Finding("checkpoint-signature", None, f"checkpoint {cp.tree_size}: {exc}")
                )
                continue
            if parsed.size != cp.tree_size or parsed.root_hash != bytes(cp.root_hash):
                report.findings.append(
                    Finding(
                        "checkpoint-signature", None, f"checkpoint {cp.tree_size}: columns differ from note"
                    )
                )

        roots_due = {cp.tree_size: bytes(cp.root_hash) for cp in checkpoints}
        leaves: list[bytes] = []
        stored_leaves: list[bytes] = []
        edge = _Edge()
        if 0 in roots_due and roots_due[0] != edge.root():
            report.findings.append(Finding("checkpoint-root", None, "checkpoint 0 is not the empty root"))
        last = -1
        while True:
            batch = (
                select(AuditEventRow.__table__)
                .where(AuditEventRow.leaf_index > last)
                .order_by(AuditEventRow.leaf_index)
                .limit(batch_size)
            )
            rows = (await session.execute(batch)).all()
            if not rows:
                break
            top = int(rows[-1].leaf_index or 0)
            stored = _pairs(
                (
                    await session.execute(
                        select(AuditNodeRow.idx, AuditNodeRow.hash).where(
                            AuditNodeRow.level == 0, AuditNodeRow.idx > last, AuditNodeRow.idx <= top
                        )
                    )
                ).all()
            )
            by_index = {int(r.leaf_index or 0): r for r in rows}
            for index in range(last + 1, top + 1):
                row = by_index.get(index)
                kept = bytes(stored.get(index, _MISSING))
                if row is None:
                    report.findings.append(
                        Finding("deleted", index, f"leaf {index}: its event row is missing")
                    )
                    digest = kept
                else:
                    digest = leaf_hash(AuditEvent.from_row(row).leaf_bytes())
                    if index >= published:
                        report.findings.append(
                            Finding("inserted", index, f"leaf {index}: row is beyond the latest checkpoint")
                        )
                leaves.append(digest)
                stored_leaves.append(kept)
                edge.push(digest)
                report.leaves_checked += 1
                due = roots_due.get(index + 1)
                if due is not None and due != edge.root():
                    report.findings.append(
                        Finding(
                            "checkpoint-root", None, f"checkpoint {index + 1}: root differs from rebuilt tree"
                        )
                    )
            last = top
            if progress:
                progress(report.leaves_checked, expected)

        _classify_leaf_mismatches(leaves, stored_leaves, published, report)
        await _check_nodes(session, leaves, published, report)
        await _check_pending(session, checkpoints, report)
    report.findings.sort(key=lambda f: (f.leaf_index is None, f.leaf_index or 0, f.kind))
    return report


def _classify_leaf_mismatches(
    leaves: list[bytes], stored: list[bytes], published: int, report: Report
) -> None:
    mismatched = [
        i for i in range(min(len(leaves), published)) if leaves[i] != stored[i] and stored[i] != _MISSING
    ]
    stored_at = {stored[i]: i for i in mismatched}
    for i in mismatched:
        other = stored_at.get(leaves[i])
        if other is not None and other != i:
            report.findings.append(
                Finding("reordered", i, f"leaf {i}: holds the event integrated at leaf {other}")
            )
        else:
            report.findings.append(Finding("edited", i, f"leaf {i}: event no longer matches its leaf hash"))


async def _check_nodes(session: AsyncSession, leaves: list[bytes], published: int, report: Report) -> None:
    """Compare every stored interior node with its recomputation, level by level."""
    level_hashes = leaves[:published]
    level = 0
    while len(level_hashes) > 1:
        level += 1
        level_hashes = [
            node_hash(level_hashes[i], level_hashes[i + 1]) for i in range(0, len(level_hashes) - 1, 2)
        ]
        stored = _pairs(
            (
                await session.execute(
                    select(AuditNodeRow.idx, AuditNodeRow.hash).where(AuditNodeRow.level == level)
                )
            ).all()
        )
        for idx, digest in enumerate(level_hashes):
            report.nodes_checked += 1
            if bytes(stored.get(idx, _MISSING)) != digest:
                first = idx << level
                report.findings.append(
                    Finding(
                        "node-mismatch",
                        first,
                        f"node level {level} #{idx} (leaves {first}..) is wrong or missing",
                    )
                )


async def _check_pending(
    session: AsyncSession, checkpoints: Sequence[AuditCheckpointRow], report: Report
) -> None:
    """Unintegrated rows dated well before the latest checkpoint were slipped in behind the integrator."""
    if not checkpoints:
        return
    cutoff = checkpoints[-1].created_at - timedelta(seconds=60)
    rows = (
        await session.execute(
            select(AuditEventRow.seq, AuditEventRow.occurred_at).where(
                AuditEventRow.leaf_index.is_(None), AuditEventRow.occurred_at < cutoff
            )
        )
    ).all()
    for seq, occurred in rows:
        report.findings.append(
            Finding(
                "inserted",
                None,
                f"event seq {seq} dated {occurred} predates the latest checkpoint unintegrated",
            )
        )
