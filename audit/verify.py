"""Check the whole log from the stored events, trusting nothing but the log's public key.

Every leaf is recomputed from its row, the tree is rebuilt, every checkpoint's signature and root are checked
against the rebuilt tree (which makes consecutive checkpoints consistent by construction), and every stored
node is compared with its recomputation. Findings name the exact leaf (or node) so an operator knows which row
was edited, deleted, inserted or moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from hashlib import sha256

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository
from audit.checkpoint import CheckpointError, verify_checkpoint
from audit.events import canonical_json
from audit.models import AuditCheckpointRow
from audit.tree import fold, range_nodes

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


class _Rebuilt:
    """The recomputed tree, level by level, as far as the latest checkpoint."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]

    def node(self, level: int, idx: int) -> bytes:
        return self.levels[level][idx]

    def root(self, size: int) -> bytes:
        return fold([self.node(level, idx) for level, idx in range_nodes(0, size)])


async def verify_log(
    sessions: async_sessionmaker[AsyncSession],
    verifier_key: str,
    progress: Progress | None = None,
    batch_size: int = 10_000,
) -> Report:
    report = Report()
    async with sessions() as session:
        checkpoints = await repository.all_checkpoints(session)
        expected = await repository.tree_size(session)
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

        leaves: list[bytes] = []  # recomputed leaf hash per index (the stored one where the row is gone)
        stored_leaves: list[bytes] = []
        last = -1
        async for rows, stored in repository.leaf_batches(sessions, batch_size, with_stored=True):
            if not rows:
                break
            top = rows[-1][0]
            _take_leaves(rows, stored, last, top, published, leaves, stored_leaves, report)
            last = top
            if progress:
                progress(report.leaves_checked, expected)
        if len(leaves) < published:
            # Rows missing at the end of the published log: deleted, like any other gap.
            tail = dict(await repository.level_hashes(session, 0, len(leaves), published))
            _take_leaves([], tail, len(leaves) - 1, published - 1, published, leaves, stored_leaves, report)
            if progress:
                progress(report.leaves_checked, expected)

        _classify_leaf_mismatches(leaves, stored_leaves, published, report)
        rebuilt = await _check_nodes(session, leaves, published, report)
        for cp in checkpoints:
            if bytes(cp.root_hash) != rebuilt.root(cp.tree_size):
                detail = (
                    "checkpoint 0 is not the empty root"
                    if cp.tree_size == 0
                    else f"checkpoint {cp.tree_size}: root differs from rebuilt tree"
                )
                report.findings.append(Finding("checkpoint-root", None, detail))
        await _check_pending(session, checkpoints, report)
    report.findings.sort(key=lambda f: (f.leaf_index is None, f.leaf_index or 0, f.kind))
    return report


def _take_leaves(
    rows: Sequence[repository.LeafRecord],
    stored: dict[int, bytes],
    last: int,
    top: int,
    published: int,
    leaves: list[bytes],
    stored_leaves: list[bytes],
    report: Report,
) -> None:
    """Recompute the leaves ``(last, top]`` from ``rows`` (ordered by leaf index) and note the stored ones."""
    encode, sort = orjson.dumps, repository.SORTED
    hashes = [
        sha256(b"\x00" + (encode(data, option=sort) if simple else canonical_json(data))).digest()
        for _, data, simple in rows
    ]
    if len(rows) == top - last:  # dense: the rows are exactly the leaves last+1 .. top
        leaves.extend(hashes)
        stored_leaves.extend([bytes(stored.get(i, _MISSING)) for i in range(last + 1, top + 1)])
    else:
        by_index = {int(row[0]): digest for row, digest in zip(rows, hashes, strict=True)}
        for index in range(last + 1, top + 1):
            kept = bytes(stored.get(index, _MISSING))
            digest = by_index.get(index)
            if digest is None:
                report.findings.append(Finding("deleted", index, f"leaf {index}: its event row is missing"))
                digest = kept
            leaves.append(digest)
            stored_leaves.append(kept)
    if top >= published:
        for row in rows:
            if row[0] >= published:
                index = int(row[0])
                report.findings.append(
                    Finding("inserted", index, f"leaf {index}: row is beyond the latest checkpoint")
                )
    report.leaves_checked += top - last


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


async def _check_nodes(
    session: AsyncSession, leaves: list[bytes], published: int, report: Report
) -> _Rebuilt:
    """Compare every stored interior node with its recomputation, level by level."""
    level_hashes = leaves[:published]
    rebuilt = _Rebuilt(level_hashes)
    level = 0
    while len(level_hashes) > 1:
        level += 1
        # Read the stored level while computing it.
        reading = asyncio.ensure_future(repository.level_hashes(session, level, 0, len(level_hashes) // 2))
        await asyncio.sleep(0)
        level_hashes = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level_hashes[0:-1:2], level_hashes[1::2], strict=True)
        ]
        rebuilt.levels.append(level_hashes)
        stored = await reading
        report.nodes_checked += len(level_hashes)
        if len(stored) == len(level_hashes):  # indices unique and in range, so exactly 0 .. n-1
            wrong = [
                i
                for i, (digest, (_, kept)) in enumerate(zip(level_hashes, stored, strict=True))
                if digest != kept
            ]
        else:
            found = dict(stored)
            wrong = [i for i, digest in enumerate(level_hashes) if bytes(found.get(i, _MISSING)) != digest]
        for idx in wrong:
            first = idx << level
            report.findings.append(
                Finding(
                    "node-mismatch",
                    first,
                    f"node level {level} #{idx} (leaves {first}..) is wrong or missing",
                )
            )
    return rebuilt


async def _check_pending(
    session: AsyncSession, checkpoints: Sequence[AuditCheckpointRow], report: Report
) -> None:
    """Unintegrated rows dated well before the latest checkpoint were slipped in behind the integrator."""
    if not checkpoints:
        return
    cutoff = checkpoints[-1].created_at - timedelta(seconds=60)
    for seq, occurred in await repository.unintegrated_before(session, cutoff):
        report.findings.append(
            Finding(
                "inserted",
                None,
                f"event seq {seq} dated {occurred} predates the latest checkpoint unintegrated",
            )
        )
