"""Inclusion and consistency proofs served from stored nodes, O(log n) rows per proof.

The RFC 9162 recursion in ``audit.merkle`` names the subtree ranges it needs; a dry run collects them, one
query fetches their nodes, and a second run builds the proof from those hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle, repository, tree


class BadRange(ValueError):
    """The requested indices do not describe a proof over the published log."""


async def _with_nodes(
    session: AsyncSession, build: Callable[[merkle.SubtreeHasher], list[bytes]]
) -> list[bytes]:
    wanted: list[tree.NodeId] = []

    def record(start: int, end: int) -> bytes:
        wanted.extend(tree.range_nodes(start, end))
        return bytes(merkle.HASH_SIZE)

    build(record)
    nodes = await repository.read_nodes(session, wanted)
    return build(lambda start, end: tree.subtree_hash(start, end, lambda ids: nodes))


async def inclusion(
    session: AsyncSession, leaf_index: int, tree_size: int, published_size: int
) -> list[bytes]:
    if not 0 <= leaf_index < tree_size <= published_size:
        raise BadRange(f"need 0 <= leaf_index < tree_size <= {published_size}")
    return await _with_nodes(session, lambda sub: merkle.inclusion_proof(leaf_index, tree_size, sub))


async def inclusions(
    session: AsyncSession, leaf_indices: Sequence[int], tree_size: int, published_size: int
) -> dict[int, list[bytes]]:
    """Inclusion proofs for several leaves in one tree, from a single read of all their nodes."""
    for leaf_index in leaf_indices:
        if not 0 <= leaf_index < tree_size <= published_size:
            raise BadRange(f"need 0 <= leaf_index < tree_size <= {published_size}")
    wanted: list[tree.NodeId] = []

    def record(start: int, end: int) -> bytes:
        wanted.extend(tree.range_nodes(start, end))
        return bytes(merkle.HASH_SIZE)

    for leaf_index in leaf_indices:
        merkle.inclusion_proof(leaf_index, tree_size, record)
    nodes = await repository.read_nodes(session, wanted)

    def subtree(start: int, end: int) -> bytes:
        return tree.subtree_hash(start, end, lambda ids: nodes)

    return {leaf_index: merkle.inclusion_proof(leaf_index, tree_size, subtree) for leaf_index in leaf_indices}


async def consistency(session: AsyncSession, first: int, second: int, published_size: int) -> list[bytes]:
    if not 0 < first <= second <= published_size:
        raise BadRange(f"need 0 < first <= second <= {published_size}")
    return await _with_nodes(session, lambda sub: merkle.consistency_proof(first, second, sub))
