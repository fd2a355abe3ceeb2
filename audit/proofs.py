"""Inclusion and consistency proofs served from stored nodes, O(log n) rows per proof.

The RFC 9162 recursion in ``audit.merkle`` names the subtree ranges it needs; a dry run collects them, one
query fetches their nodes, and each proof element is folded from those hashes.

A reader may hold the tree's upper levels in memory (:class:`UpperLevels`): every node at or above a floor
level (level 8 up to 16M leaves, about 2.5 MB at 10M; higher for a larger log, so the lowest held level stays
at most 65,536 nodes). A proof then reads only its few nodes below the floor, about 8 instead of ~25 scattered
index probes into a table with twice as many rows as the log has leaves. Nodes are immutable once written,
so what is held never goes stale; it is only extended, in the same statement as the request's own node read,
when a newer checkpoint is published.

Memory is never trusted over the signed root: new nodes are taken only if every new parent hashes from its
children and the held levels, with the stored right edge below them, fold to the checkpoint's root. Then
every held node is the one the signed tree has (each lies under a node of the root's decomposition, reached
by checked hashes). If the check fails nothing is taken, the mismatch is logged, and proofs are built from
the stored nodes alone, as without the cache: they then fail to verify, which is the truth about the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from hashlib import sha256

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle, repository, tree

_LOG = logging.getLogger(__name__)
_ZERO = bytes(merkle.HASH_SIZE)
Range = tuple[int, int, int]  # (level, lo, hi): the nodes of one level with lo <= idx < hi


class BadRange(ValueError):
    """The requested indices do not describe a proof over the published log."""


class UpperLevels:
    """The nodes at levels ``>= lowest`` of a published tree, one bytes value per level, in index order.

    ``floor`` is the lowest level ever held; ``span`` bounds the lowest held level to ``2**span`` nodes, so
    memory stays a few MB whatever the size of the log (at a billion leaves the lowest held level is 14).
    The held levels are the complete nodes of the tree of ``size`` leaves, checked against its signed root.
    One instance serves one process's requests; it is only replaced, never changed in place, and only
    between awaits, so concurrent requests see either the old levels or the new ones.
    """

    def __init__(self, floor: int = 8, span: int = 16) -> None:
        self.floor = floor
        self.span = span
        self.size = 0
        self.lowest = floor
        self._levels: dict[int, bytes] = {}
        self._refused = -1  # the last size whose nodes did not check out: not read again for each request

    def lowest_for(self, size: int) -> int:
        return max(self.floor, size.bit_length() - self.span)

    def get(self, node: tree.NodeId) -> bytes | None:
        level, idx = node
        held = self._levels.get(level)
        if held is None or 32 * idx + 32 > len(held):
            return None
        return held[32 * idx : 32 * idx + 32]

    def plan(self, size: int) -> tuple[list[Range], list[tree.NodeId]]:
        """What to read to hold the tree of ``size``: new ranges per level and the right edge below them.

        Nothing when ``size`` is held already (or older), was refused, or has no node at the floor yet.
        """
        lowest = self.lowest_for(size)
        if size <= self.size or size == self._refused or size >> lowest == 0:
            return [], []
        ranges = []
        for level in range(lowest, size.bit_length()):
            have = len(self._levels.get(level, b"")) // 32
            if size >> level > have:
                ranges.append((level, have, size >> level))
        edge = [node for node in tree.range_nodes(0, size) if node[0] < lowest]
        return ranges, edge

    def extend(self, size: int, root: bytes, found: Mapping[tree.NodeId, bytes]) -> bool:
        """Hold the tree of ``size`` (signed ``root``) from ``found``, the plan's reads; False if refused.

        Checked before anything is kept: every node the plan named is there, every new parent is the hash of
        its two children, and the held levels with the stored right edge below them fold to ``root``.
        """
        ranges, edge = self.plan(size)
        if not ranges:
            return size <= self.size
        lowest = self.lowest_for(size)
        levels = {level: held for level, held in self._levels.items() if level >= lowest}
        try:
            for level, lo, hi in ranges:
                new = b"".join(found[(level, idx)] for idx in range(lo, hi))
                levels[level] = levels.get(level, b"") + new
            below_edge = {node: found[node] for node in edge}
        except KeyError as missing:
            return self._refuse(size, f"node {missing} is not stored")
        for level, lo, hi in ranges:
            children = levels.get(level - 1) if level > lowest else None
            if children is None:
                continue
            held = levels[level]
            for idx in range(lo, hi):
                if (
                    sha256(b"\x01" + children[64 * idx : 64 * idx + 64]).digest()
                    != held[32 * idx : 32 * idx + 32]
                ):
                    return self._refuse(size, f"node ({level}, {idx}) is not the hash of its children")
        hashes = [
            below_edge[(level, idx)] if level < lowest else levels[level][32 * idx : 32 * idx + 32]
            for level, idx in tree.range_nodes(0, size)
        ]
        if tree.fold(hashes) != root:
            return self._refuse(size, "the stored nodes do not fold to the signed root")
        self._levels, self.lowest, self.size = levels, lowest, size
        return True

    def _refuse(self, size: int, why: str) -> bool:
        self._refused = size
        _LOG.error("audit: upper tree levels not taken into memory at size %d: %s", size, why)
        return False


async def read_for(
    session: AsyncSession,
    wanted: Iterable[tree.NodeId],
    size: int,
    root: bytes | None,
    upper: UpperLevels | None,
) -> dict[tree.NodeId, bytes]:
    """The hashes of ``wanted``: held ones from memory, the rest in one statement in the common case.

    ``size`` and ``root`` are the latest signed checkpoint's: when the held levels are behind it, their new
    nodes are read in the same statement and taken only if they check out against ``root``.
    """
    wanted = set(wanted)
    if upper is None or root is None:
        return await repository.read_nodes(session, wanted)
    ranges, edge = upper.plan(size)
    coming = {level: (lo, hi) for level, lo, hi in ranges}
    nodes: dict[tree.NodeId, bytes] = {}
    to_read: list[tree.NodeId] = []
    for node in wanted:
        digest = upper.get(node)
        if digest is not None:
            nodes[node] = digest
        elif not (node[0] in coming and coming[node[0]][0] <= node[1] < coming[node[0]][1]):
            to_read.append(node)
    if not to_read and not ranges:
        return nodes
    found = await repository.read_nodes(session, [*to_read, *edge], ranges=ranges)
    if ranges:
        upper.extend(size, root, found)
    for node in wanted:
        if node not in nodes and node in found:
            nodes[node] = found[node]
    return nodes


def _ranges(build: Callable[[merkle.SubtreeHasher], list[bytes]]) -> list[tuple[int, int]]:
    """The subtree ranges a proof consists of, from a dry run of the RFC 9162 recursion."""
    asked: list[tuple[int, int]] = []

    def record(start: int, end: int) -> bytes:
        asked.append((start, end))
        return _ZERO

    build(record)
    return asked


def _ids(start: int, end: int) -> list[tree.NodeId]:
    """``tree.range_nodes`` with a fast path for the common case, one complete aligned subtree."""
    width = end - start
    if width and not width & (width - 1) and not start & (width - 1):
        level = width.bit_length() - 1
        return [(level, start >> level)]
    return tree.range_nodes(start, end)


async def _proofs(
    session: AsyncSession,
    builds: Sequence[Callable[[merkle.SubtreeHasher], list[bytes]]],
    size: int,
    root: bytes | None,
    upper: UpperLevels | None,
) -> list[list[bytes]]:
    """Each build's proof from one read of all their nodes; ``LookupError`` if one is not stored."""
    folded = await _subtrees(session, [_ranges(build) for build in builds], size, root, upper)
    return [build(lambda start, end: folded[(start, end)]) for build in builds]


async def _subtrees(
    session: AsyncSession,
    asked: Sequence[Sequence[tuple[int, int]]],
    size: int,
    root: bytes | None,
    upper: UpperLevels | None,
) -> dict[tuple[int, int], bytes]:
    """The hash of every subtree range in ``asked``, from one read of all their stored nodes."""
    decomposed: dict[tuple[int, int], list[tree.NodeId]] = {}
    for ranges in asked:
        for span in ranges:
            if span not in decomposed:  # the proofs of one page share their upper ranges
                decomposed[span] = _ids(*span)
    nodes = await read_for(session, {node for ids in decomposed.values() for node in ids}, size, root, upper)
    folded = {}
    for span, ids in decomposed.items():
        try:
            folded[span] = nodes[ids[0]] if len(ids) == 1 else tree.fold([nodes[node] for node in ids])
        except KeyError:
            missing = [node for node in ids if node not in nodes]
            raise LookupError(f"tree nodes missing from storage: {missing[:3]}") from None
    return folded


async def inclusion(
    session: AsyncSession,
    leaf_index: int,
    tree_size: int,
    published_size: int,
    *,
    published_root: bytes | None = None,
    upper: UpperLevels | None = None,
) -> list[bytes]:
    """One leaf's audit path; with ``upper`` (and the published root) its upper nodes come from memory."""
    if not 0 <= leaf_index < tree_size <= published_size:
        raise BadRange(f"need 0 <= leaf_index < tree_size <= {published_size}")

    ranges = merkle.inclusion_ranges(leaf_index, tree_size)
    folded = await _subtrees(session, [ranges], published_size, published_root, upper)
    return [folded[span] for span in ranges]


async def inclusions(
    session: AsyncSession,
    leaf_indices: Sequence[int],
    tree_size: int,
    published_size: int,
    *,
    published_root: bytes | None = None,
    upper: UpperLevels | None = None,
) -> dict[int, list[bytes]]:
    """Inclusion proofs for several leaves in one tree, from a single read of all their nodes."""
    for leaf_index in leaf_indices:
        if not 0 <= leaf_index < tree_size <= published_size:
            raise BadRange(f"need 0 <= leaf_index < tree_size <= {published_size}")

    # The ranges straight from RFC 9162's recursion, once per leaf: no dry run with a recording hasher.
    paths = {leaf_index: merkle.inclusion_ranges(leaf_index, tree_size) for leaf_index in leaf_indices}
    folded = await _subtrees(session, list(paths.values()), published_size, published_root, upper)
    return {leaf_index: [folded[span] for span in ranges] for leaf_index, ranges in paths.items()}


async def consistency(
    session: AsyncSession,
    first: int,
    second: int,
    published_size: int,
    *,
    published_root: bytes | None = None,
    upper: UpperLevels | None = None,
) -> list[bytes]:
    if not 0 < first <= second <= published_size:
        raise BadRange(f"need 0 < first <= second <= {published_size}")

    def build(sub: merkle.SubtreeHasher) -> list[bytes]:
        return merkle.consistency_proof(first, second, sub)

    return (await _proofs(session, [build], published_size, published_root, upper))[0]
