"""Integration as a pure function: new leaf hashes in, newly completed node hashes out.

Following tessera's split, this module does no I/O. The tree is stored as the hashes of its complete,
aligned subtrees (``(level, idx)`` covers leaves ``[idx * 2**level, (idx + 1) * 2**level)``); appending a
leaf completes at most log2(n) new nodes, all on the right edge, and nothing stored is ever rewritten. Any
range the RFC 9162 proof recursion asks for decomposes into O(log n) such nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from audit.merkle import EMPTY_ROOT, node_hash

NodeId = tuple[int, int]
NodeReader = Callable[[Iterable[NodeId]], Mapping[NodeId, bytes]]


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The complete aligned subtrees covering ``[start, end)``, left to right, largest first.

    For every range the proof recursion uses (``start`` aligned to a power of two at least the range's size)
    this greedy split is exactly the RFC 9162 §2.1.1 recursion's split, so folding the hashes right to left
    gives the range's MTH.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    nodes: list[NodeId] = []
    while start < end:
        # The largest subtree that fits what is left and that ``start`` is aligned to, found with bit
        # arithmetic rather than by trying each level (a proof asks for ~25 ranges, a history page ~500).
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its decomposition's hashes (largest subtree first)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def subtree_hash(start: int, end: int, read: NodeReader) -> bytes:
    ids = range_nodes(start, end)
    found = read(ids)
    missing = [node for node in ids if node not in found]
    if missing:
        raise LookupError(f"tree nodes missing from storage: {missing[:3]}")
    return fold([found[node] for node in ids])


def root(size: int, read: NodeReader) -> bytes:
    return subtree_hash(0, size, read)


def integrate(size: int, leaf_hashes: Sequence[bytes], read: NodeReader) -> dict[NodeId, bytes]:
    """Nodes completed by appending ``leaf_hashes`` to a tree of ``size`` leaves (including the leaves).

    Left siblings that already existed are read once, up front: they are exactly the current tree's
    right-edge complete subtrees, O(log n) of them.
    """
    existing = dict(read(range_nodes(0, size))) if size else {}
    new: dict[NodeId, bytes] = {}

    def get(node: NodeId) -> bytes:
        return new[node] if node in new else existing[node]

    for offset, leaf in enumerate(leaf_hashes):
        index = size + offset
        new[(0, index)] = leaf
        level = 0
        while (index + 1) % (1 << (level + 1)) == 0:
            parent_idx = index >> (level + 1)
            new[(level + 1, parent_idx)] = node_hash(
                get((level, 2 * parent_idx)), get((level, 2 * parent_idx + 1))
            )
            level += 1
    return new


class RightEdge:
    """The right edge of a tree rebuilt leaf by leaf: O(log n) memory for the root at any size."""

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
