"""Check the log from the stored events, trusting nothing but the log's public key.

Two checks share this module:

- :func:`verify_log` recomputes every leaf from its row, rebuilds the tree level by level, checks every
  checkpoint's signature and root against the rebuilt tree (which makes consecutive checkpoints consistent by
  construction), and compares every stored node with its recomputation.
- :func:`verify_since` starts from a checkpoint the verifier already trusts (kept from an earlier run): it
  recomputes only the leaves appended after it, extends the trusted tree's right edge with them, and checks an
  RFC 9162 §2.1.4 consistency proof from the trusted checkpoint to the latest one, so a daily check of a
  billion-leaf log reads a day's rows and O(log n) nodes.

Findings name the exact leaf (or node) so an operator knows which row was edited, deleted, inserted or moved.

Speed: a leaf's hash comes from ``repository.leaf_digests`` (on PostgreSQL the server writes the canonical
leaf text, Python hashes it); levels are computed bottom-up over lists of hashes and compared with the stored
level in one comparison of concatenated bytes, falling back to a per-node comparison only when they differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from hashlib import sha256

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import merkle, proofs, repository, tree
from audit.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from audit.models import AuditCheckpointRow
from audit.tree import fold, range_nodes

Progress = Callable[[int, int], None]
_MISSING = bytes(32)
_BATCH = 50_000


@dataclass(frozen=True)
class Finding:
    # edited, reordered, deleted, inserted, checkpoint-signature, checkpoint-root, node-mismatch,
    # or (incremental only) consistency
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
    trusted_size: int | None = None  # incremental: the size of the checkpoint the verifier started from
    leaves_read: int = 0  # event rows actually read (incremental: only those after the trusted size)
    latest_note: str | None = None  # the latest checkpoint checked, to trust next time

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


_Batch = tuple[list[tuple[int, bytes]], bytes | dict[int, bytes]]


async def _digest_batches(
    sessions: async_sessionmaker[AsyncSession], after: int, batch_size: int
) -> AsyncIterator[_Batch]:
    """Recomputed ``(index, leaf hash)`` of the rows after ``after``, with each span's stored leaf hashes.

    The stored hashes come as one blob when every leaf of the span is stored, else as a dict. The next batch
    is read while the caller works on the current one; stops after the first short batch.
    """

    async def fetch(session: AsyncSession, start: int) -> _Batch:
        digests = await repository.leaf_digests(session, start, batch_size)
        if not digests:
            return digests, {}
        blob = await repository.level_blob(session, 0, start + 1, digests[-1][0] + 1)
        if blob is not None:
            return digests, blob
        return digests, dict(await repository.level_hashes(session, 0, start + 1, digests[-1][0] + 1))

    async with sessions() as session:
        pending: asyncio.Future[_Batch] | None = asyncio.ensure_future(fetch(session, after))
        while pending is not None:
            batch = await pending
            pending = None
            if len(batch[0]) == batch_size:
                pending = asyncio.ensure_future(fetch(session, batch[0][-1][0]))
                await asyncio.sleep(0)  # send the next query before the caller's CPU work
            yield batch


def _check_signatures(
    checkpoints: Sequence[AuditCheckpointRow], verifier_key: str, report: Report
) -> dict[int, Checkpoint]:
    parsed_by_size: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        report.checkpoints_checked += 1
        try:
            parsed = verify_checkpoint(cp.note, verifier_key)
        except CheckpointError as exc:
            report.findings.append(Finding("checkpoint-signature", None, f"checkpoint {cp.tree_size}: {exc}"))
            continue
        if parsed.size != cp.tree_size or parsed.root_hash != bytes(cp.root_hash):
            report.findings.append(
                Finding("checkpoint-signature", None, f"checkpoint {cp.tree_size}: columns differ from note")
            )
            continue
        parsed_by_size[cp.tree_size] = parsed
    return parsed_by_size


async def _read_leaves(
    sessions: async_sessionmaker[AsyncSession],
    first: int,
    published: int,
    batch_size: int,
    report: Report,
    progress: Progress | None,
    expected: int,
) -> tuple[list[bytes], list[bytes | None]]:
    """Recompute the leaves from ``first`` on; also the stored ones (None where a blob said "all present")."""
    leaves: list[bytes] = []
    stored_leaves: list[bytes | None] = []
    last = first - 1
    async for digests, stored in _digest_batches(sessions, first - 1, batch_size):
        if not digests:
            break
        top = digests[-1][0]
        _take_leaves(digests, stored, last, top, published, leaves, stored_leaves, report)
        last = top
        if progress:
            progress(report.leaves_checked, expected)
    if first + len(leaves) < published:
        # Rows missing at the end of the published log: deleted, like any other gap.
        async with sessions() as session:
            tail = dict(await repository.level_hashes(session, 0, first + len(leaves), published))
        _take_leaves(
            [], tail, first + len(leaves) - 1, published - 1, published, leaves, stored_leaves, report
        )
        if progress:
            progress(report.leaves_checked, expected)
    return leaves, stored_leaves


async def verify_log(
    sessions: async_sessionmaker[AsyncSession],
    verifier_key: str,
    progress: Progress | None = None,
    batch_size: int = _BATCH,
) -> Report:
    report = Report()
    async with sessions() as session:
        checkpoints = await repository.all_checkpoints(session)
        expected = await repository.tree_size(session)
    published = checkpoints[-1].tree_size if checkpoints else 0
    report.tree_size = published
    report.latest_note = checkpoints[-1].note if checkpoints else None
    _check_signatures(checkpoints, verifier_key, report)

    leaves, stored_leaves = await _read_leaves(sessions, 0, published, batch_size, report, progress, expected)
    report.leaves_read = report.leaves_checked
    _classify_leaf_mismatches(leaves, stored_leaves, 0, published, report)
    async with sessions() as session:
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
    rows: Sequence[tuple[int, bytes]],
    stored: bytes | dict[int, bytes],
    last: int,
    top: int,
    published: int,
    leaves: list[bytes],
    stored_leaves: list[bytes | None],
    report: Report,
) -> None:
    """Take the recomputed leaves ``(last, top]`` from ``rows`` (ordered by leaf index) and the stored ones.

    Where every leaf of the span has a row and a stored hash, and they agree, nothing per leaf is kept but the
    hash itself; only a span that differs is taken apart leaf by leaf.
    """
    hashes = [digest for _, digest in rows]
    if len(rows) == top - last:  # dense: the rows are exactly the leaves last+1 .. top
        leaves.extend(hashes)
        if isinstance(stored, bytes) and b"".join(hashes) == stored:
            stored_leaves.extend([None] * len(hashes))  # all stored and equal
        else:
            if isinstance(stored, bytes):
                stored = {last + 1 + n: stored[32 * n : 32 * n + 32] for n in range(len(stored) // 32)}
            stored_leaves.extend([bytes(stored.get(i, _MISSING)) for i in range(last + 1, top + 1)])
    else:
        if isinstance(stored, bytes):
            stored = {last + 1 + n: stored[32 * n : 32 * n + 32] for n in range(len(stored) // 32)}
        by_index = dict(rows)
        for index in range(last + 1, top + 1):
            kept = bytes(stored.get(index, _MISSING))
            digest = by_index.get(index)
            if digest is None:
                report.findings.append(Finding("deleted", index, f"leaf {index}: its event row is missing"))
                digest = kept
            leaves.append(digest)
            stored_leaves.append(kept)
    if top >= published:
        for index, _ in rows:
            if index >= published:
                report.findings.append(
                    Finding("inserted", index, f"leaf {index}: row is beyond the latest checkpoint")
                )
    report.leaves_checked += top - last


def _classify_leaf_mismatches(
    leaves: list[bytes], stored: list[bytes | None], first: int, published: int, report: Report
) -> None:
    """Name each leaf (numbered from ``first``) whose recomputed hash is not the stored one."""
    mismatched = [
        i
        for i in range(min(len(leaves), published - first))
        if stored[i] is not None and leaves[i] != stored[i] and stored[i] != _MISSING
    ]
    stored_at = {stored[i]: i for i in mismatched}
    for i in mismatched:
        other = stored_at.get(leaves[i])
        if other is not None and other != i:
            report.findings.append(
                Finding(
                    "reordered",
                    first + i,
                    f"leaf {first + i}: holds the event integrated at leaf {first + other}",
                )
            )
        else:
            report.findings.append(
                Finding("edited", first + i, f"leaf {first + i}: event no longer matches its leaf hash")
            )


def _parent_level(hashes: list[bytes]) -> list[bytes]:
    return [
        sha256(b"\x01" + left + right).digest()
        for left, right in zip(hashes[0:-1:2], hashes[1::2], strict=True)
    ]


async def _check_nodes(
    session: AsyncSession, leaves: list[bytes], published: int, report: Report
) -> _Rebuilt:
    """Compare every stored interior node with its recomputation, level by level."""
    level_hashes = leaves[:published]
    rebuilt = _Rebuilt(level_hashes)
    level = 0
    while len(level_hashes) > 1:
        level += 1
        count = len(level_hashes) // 2
        # Read the stored level while computing it.
        reading = asyncio.ensure_future(repository.level_blob(session, level, 0, count))
        await asyncio.sleep(0)
        level_hashes = _parent_level(level_hashes)
        rebuilt.levels.append(level_hashes)
        report.nodes_checked += count
        blob = await reading
        if blob is not None and blob == b"".join(level_hashes):
            continue
        found = dict(await repository.level_hashes(session, level, 0, count))
        for idx, digest in enumerate(level_hashes):
            if bytes(found.get(idx, _MISSING)) != digest:
                _node_finding(report, level, idx)
    return rebuilt


def _node_finding(report: Report, level: int, idx: int) -> None:
    first = idx << level
    report.findings.append(
        Finding("node-mismatch", first, f"node level {level} #{idx} (leaves {first}..) is wrong or missing")
    )


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


# --------------------------------------------------------------------------- incremental


class UntrustedCheckpoint(ValueError):
    """The checkpoint handed in as trusted is not one this log's key signed (or is beyond the log)."""


async def verify_since(
    sessions: async_sessionmaker[AsyncSession],
    verifier_key: str,
    trusted_note: str,
    progress: Progress | None = None,
    batch_size: int = _BATCH,
) -> Report:
    """Check the log as far as its latest checkpoint, trusting an older checkpoint the verifier already holds.

    ``trusted_note`` must carry this log's signature (``UntrustedCheckpoint`` otherwise: nothing is checked
    against a checkpoint the verifier cannot vouch for). What is checked:

    - the stored tree still has the trusted root at the trusted size (its right edge folds to it), and an
      RFC 9162 consistency proof from the trusted checkpoint to the latest one verifies: a history rewritten
      before the trusted size (even with nodes and checkpoints re-signed) cannot pass;
    - every leaf after the trusted size is recomputed from its row and compared with the stored leaf; the
      trusted right edge extended with them must give every later checkpoint's root, and every node those
      leaves completed must equal the stored one;
    - every checkpoint from the trusted size on is signed by the key.

    Rows before the trusted size are not read: an edit there that leaves the tree alone is for the full
    :func:`verify_log` to find.
    """
    try:
        trusted = verify_checkpoint(trusted_note, verifier_key)
    except CheckpointError as exc:
        raise UntrustedCheckpoint(str(exc)) from None
    m = trusted.size
    report = Report(trusted_size=m)
    async with sessions() as session:
        checkpoints = await repository.checkpoints_from(session, m)
        expected = await repository.tree_size(session)
        published = checkpoints[-1].tree_size if checkpoints else 0
        if not checkpoints or published < m:
            raise UntrustedCheckpoint(f"the log has no checkpoint at or beyond size {m}")
        report.tree_size = published
        report.latest_note = checkpoints[-1].note
        signed = _check_signatures(checkpoints, verifier_key, report)
        if checkpoints[0].tree_size == m and bytes(checkpoints[0].root_hash) != trusted.root_hash:
            report.findings.append(
                Finding("consistency", None, f"the log's checkpoint at size {m} is not the trusted one")
            )
        edge_ids = range_nodes(0, m)
        edge = await repository.read_nodes(session, edge_ids)
        if (
            any(node not in edge for node in edge_ids)
            or fold([edge[n] for n in edge_ids]) != trusted.root_hash
        ):
            report.findings.append(
                Finding("consistency", None, f"the stored tree no longer has the trusted root at size {m}")
            )
        latest = signed.get(published)
        if latest is not None and m not in (0, published):
            try:
                proof = await proofs.consistency(session, m, published, published)
                merkle.verify_consistency(m, published, proof, trusted.root_hash, latest.root_hash)
            except (merkle.MerkleError, LookupError) as exc:
                report.findings.append(Finding("consistency", None, f"size {m} to {published}: {exc}"))

    leaves, stored_leaves = await _read_leaves(
        sessions, m, published, batch_size, report, progress, max(0, expected - m)
    )
    report.leaves_read = report.leaves_checked
    _classify_leaf_mismatches(leaves, stored_leaves, m, published, report)
    new_leaves = leaves[: max(0, published - m)]
    try:
        created = tree.integrate(m, new_leaves, lambda ids: {i: edge[i] for i in ids if i in edge})
    except KeyError:  # the trusted right edge is incomplete: already a finding, nothing to extend
        created = {}
    all_nodes = {**edge, **created}
    async with sessions() as session:
        await _check_created(session, m, published, created, report)
        for cp in checkpoints:
            try:
                root = tree.root(cp.tree_size, lambda ids: {i: all_nodes[i] for i in ids if i in all_nodes})
            except LookupError:
                root = b""
            if bytes(cp.root_hash) != root:
                report.findings.append(
                    Finding(
                        "checkpoint-root", None, f"checkpoint {cp.tree_size}: root differs from rebuilt tree"
                    )
                )
        await _check_pending(session, checkpoints, report)
    report.findings.sort(key=lambda f: (f.leaf_index is None, f.leaf_index or 0, f.kind))
    return report


async def _check_created(
    session: AsyncSession, m: int, published: int, created: dict[tree.NodeId, bytes], report: Report
) -> None:
    """Compare the interior nodes the new leaves completed with the stored ones, one range read per level."""
    by_level: dict[int, list[tuple[int, bytes]]] = {}
    for (level, idx), digest in created.items():
        if level > 0:
            by_level.setdefault(level, []).append((idx, digest))
    for level, nodes in sorted(by_level.items()):
        nodes.sort()
        start, end = nodes[0][0], nodes[-1][0] + 1
        report.nodes_checked += len(nodes)
        blob = await repository.level_blob(session, level, start, end)
        if blob is not None and len(nodes) == end - start and blob == b"".join(h for _, h in nodes):
            continue
        found = dict(await repository.level_hashes(session, level, start, end))
        for idx, digest in nodes:
            if bytes(found.get(idx, _MISSING)) != digest:
                _node_finding(report, level, idx)
