"""Stored-node integration agrees with the in-memory RFC 9162 tree for every size and split of appends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import tree
from audit.merkle import MemoryTree, inclusion_proof, leaf_hash, verify_inclusion


class Store:
    def __init__(self) -> None:
        self.nodes: dict[tree.NodeId, bytes] = {}
        self.reads = 0

    def read(self, ids: Iterable[tree.NodeId]) -> Mapping[tree.NodeId, bytes]:
        ids = list(ids)
        self.reads += len(ids)
        return {i: self.nodes[i] for i in ids if i in self.nodes}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12))
def test_batched_integration_matches_the_memory_tree(batches: list[int]) -> None:
    store, memory, size = Store(), MemoryTree(), 0
    for batch in batches:
        leaves = [leaf_hash(f"event-{size + i}".encode()) for i in range(batch)]
        created = tree.integrate(size, leaves, store.read)
        assert not set(created) & set(store.nodes), "a stored node is never rewritten"
        store.nodes.update(created)
        for leaf in leaves:
            memory.append(leaf)
        size += batch
        assert tree.root(size, store.read) == memory.root()
    for index in range(0, size, max(1, size // 7)):
        proof = inclusion_proof(index, size, lambda s, e: tree.subtree_hash(s, e, store.read))
        assert proof == memory.inclusion_proof(index, size)
        verify_inclusion(memory.leaf_hashes[index], index, size, proof, memory.root())


def test_every_historic_root_is_computable_from_the_stored_nodes() -> None:
    store, memory = Store(), MemoryTree()
    leaves = [leaf_hash(bytes([i])) for i in range(100)]
    store.nodes.update(tree.integrate(0, leaves, store.read))
    for leaf in leaves:
        memory.append(leaf)
    for size in range(101):
        assert tree.root(size, store.read) == memory.root(size)


def test_a_root_reads_logarithmically_many_nodes() -> None:
    store = Store()
    store.nodes.update(tree.integrate(0, [leaf_hash(bytes([i % 256])) for i in range(1000)], store.read))
    store.reads = 0
    tree.root(1000, store.read)
    assert store.reads == bin(1000).count("1")


def test_the_right_edge_gives_every_prefix_root_in_logarithmic_memory() -> None:
    edge, memory = tree.RightEdge(), MemoryTree()
    assert edge.root() == memory.root(0)
    for i in range(130):
        digest = leaf_hash(i.to_bytes(2, "big"))
        edge.push(digest)
        memory.append(digest)
        assert edge.root() == memory.root()
        assert len(edge.stack) == bin(i + 1).count("1")
