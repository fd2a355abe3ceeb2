"""Property tests for audit.merkle: generated proofs verify, and any corruption is caught.

Proof generation is cross-checked against a literal transcription of the RFC 9162 recursions
(MTH, PATH, SUBPROOF) over plain lists, so the callback-based generator and the bit-twiddling
verifier are each tested against an independent reference rather than against each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    ConsistencyError,
    InclusionError,
    MemoryTree,
    SubtreeHasher,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300
LEAVES = [leaf_hash(b"audit record %d" % i) for i in range(MAX_SIZE)]
TREE = MemoryTree(LEAVES)

sizes = st.integers(min_value=1, max_value=MAX_SIZE)


# --------------------------------------------------------------------------- RFC reference


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1, verbatim recursion over leaf hashes."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def path_shape(m: int, n: int) -> list[bool]:
    """Sibling sides (True = sibling on the left) of PATH(m, D[n]), leaf to root."""
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path_shape(m, k), False]
    return [*path_shape(m - k, n - k), True]


def _flip(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    corrupted = list(proof)
    h = bytearray(corrupted[element])
    h[bit // 8] ^= 1 << (bit % 8)
    corrupted[element] = bytes(h)
    return corrupted


# --------------------------------------------------------------------------- hashing


def test_hashes_use_rfc9162_domain_separation_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MemoryTree().root() == EMPTY_ROOT


@given(size=st.integers(min_value=0, max_value=MAX_SIZE))
def test_every_root_computation_agrees_with_the_rfc_recursion(size: int) -> None:
    want = ref_mth(LEAVES[:size])
    assert root_from_leaf_hashes(LEAVES[:size]) == want
    assert TREE.root(size) == want
    assert MemoryTree(LEAVES[:size]).root() == want


# --------------------------------------------------------------------------- inclusion


@given(data=st.data(), size=sizes)
def test_generated_inclusion_proof_equals_rfc_path_and_verifies(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = TREE.inclusion_proof(index, size)
    assert proof == ref_path(index, LEAVES[:size])
    root = TREE.root(size)
    verify_inclusion(LEAVES[index], index, size, proof, root)
    assert root_from_inclusion_proof(LEAVES[index], index, size, proof) == root


@given(data=st.data(), size=st.integers(min_value=2, max_value=MAX_SIZE))
def test_flipping_any_bit_of_any_inclusion_proof_element_fails(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = TREE.inclusion_proof(index, size)
    element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    with pytest.raises(InclusionError, match="expected root"):
        verify_inclusion(LEAVES[index], index, size, _flip(proof, element, bit), TREE.root(size))


@given(data=st.data(), size=sizes)
def test_flipping_any_bit_of_the_leaf_or_root_fails(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = TREE.inclusion_proof(index, size)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    [bad_leaf] = _flip([LEAVES[index]], 0, bit)
    [bad_root] = _flip([TREE.root(size)], 0, bit)
    with pytest.raises(InclusionError):
        verify_inclusion(bad_leaf, index, size, proof, TREE.root(size))
    with pytest.raises(InclusionError):
        verify_inclusion(LEAVES[index], index, size, proof, bad_root)


@given(data=st.data(), size=st.integers(min_value=2, max_value=MAX_SIZE))
def test_inclusion_proof_for_one_index_never_verifies_at_another(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    other = data.draw(
        st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index), label="other"
    )
    proof = TREE.inclusion_proof(index, size)
    with pytest.raises(InclusionError):
        verify_inclusion(LEAVES[index], other, size, proof, TREE.root(size))


@given(data=st.data(), size=sizes)
def test_inclusion_proof_for_one_size_does_not_verify_against_another_sizes_root(
    data: st.DataObject, size: int
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    other = data.draw(st.integers(min_value=index + 1, max_value=MAX_SIZE).filter(lambda s: s != size))
    proof = TREE.inclusion_proof(index, size)
    if proof == TREE.inclusion_proof(index, other):
        return  # literally the same audit path in both trees, e.g. a leaf in a complete left subtree
    with pytest.raises(InclusionError):
        verify_inclusion(LEAVES[index], index, other, proof, TREE.root(other))


@given(data=st.data(), size=sizes)
def test_inclusion_with_a_wrong_size_verifies_only_when_the_path_shape_is_identical(
    data: st.DataObject, size: int
) -> None:
    # An audit path alone does not bind the tree size (RFC 9162 §2.1.3.2 takes it as input):
    # e.g. leaf 0 of size 3 and of size 4 fold the same path the same way.  The size must
    # therefore come from the signed checkpoint.  This pins down exactly when that happens.
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    other = data.draw(st.integers(min_value=index + 1, max_value=MAX_SIZE).filter(lambda s: s != size))
    proof = TREE.inclusion_proof(index, size)
    root = TREE.root(size)
    if path_shape(index, other) == path_shape(index, size):
        verify_inclusion(LEAVES[index], index, other, proof, root)
    else:
        with pytest.raises(InclusionError):
            verify_inclusion(LEAVES[index], index, other, proof, root)


def test_inclusion_path_alone_does_not_bind_tree_size_so_checkpoints_must() -> None:
    # Concrete instance of the property above: leaf 0's path in a 3-leaf tree also folds to
    # the 3-leaf root when the verifier is told size 4.
    verify_inclusion(LEAVES[0], 0, 4, TREE.inclusion_proof(0, 3), TREE.root(3))
    with pytest.raises(InclusionError):
        verify_inclusion(LEAVES[0], 0, 4, TREE.inclusion_proof(0, 3), TREE.root(4))


@given(data=st.data(), size=sizes)
def test_inclusion_proof_that_is_too_long_or_too_short_is_rejected_by_length(
    data: st.DataObject, size: int
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = TREE.inclusion_proof(index, size)
    root = TREE.root(size)
    with pytest.raises(InclusionError, match="wrong proof size"):
        verify_inclusion(LEAVES[index], index, size, [*proof, root], root)
    with pytest.raises(InclusionError, match="wrong proof size"):
        verify_inclusion(LEAVES[index], index, size, [root, *proof], root)
    if proof:
        with pytest.raises(InclusionError, match="wrong proof size"):
            verify_inclusion(LEAVES[index], index, size, proof[:-1], root)


def test_inclusion_rejects_impossible_indices_and_malformed_hashes() -> None:
    root = TREE.root(8)
    proof = TREE.inclusion_proof(3, 8)
    for index, size in [(8, 8), (9, 8), (0, 0), (-1, 8), (2**64 - 1, 8)]:
        with pytest.raises(InclusionError):
            verify_inclusion(LEAVES[3], index, size, proof, root)
    with pytest.raises(InclusionError, match="leaf hash must be 32 bytes"):
        verify_inclusion(LEAVES[3][:31], 3, 8, proof, root)
    with pytest.raises(InclusionError, match="root must be 32 bytes"):
        verify_inclusion(LEAVES[3], 3, 8, proof, root + b"\x00")
    with pytest.raises(InclusionError, match=r"proof\[1\] must be 32 bytes"):
        verify_inclusion(LEAVES[3], 3, 8, [proof[0], b"", proof[2]], root)


def test_inclusion_error_names_expected_and_computed_roots_in_hex() -> None:
    proof = TREE.inclusion_proof(5, 13)
    wrong_root = TREE.root(12)
    computed = root_from_inclusion_proof(LEAVES[5], 5, 13, proof)
    with pytest.raises(InclusionError) as excinfo:
        verify_inclusion(LEAVES[5], 5, 13, proof, wrong_root)
    assert wrong_root.hex() in str(excinfo.value)
    assert computed.hex() in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


# --------------------------------------------------------------------------- consistency


@st.composite
def size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    size1 = draw(st.integers(min_value=1, max_value=MAX_SIZE))
    size2 = draw(st.integers(min_value=size1, max_value=MAX_SIZE))
    return size1, size2


@st.composite
def proper_size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    size1 = draw(st.integers(min_value=1, max_value=MAX_SIZE - 1))
    size2 = draw(st.integers(min_value=size1 + 1, max_value=MAX_SIZE))
    return size1, size2


@given(pair=size_pairs())
def test_generated_consistency_proof_equals_rfc_subproof_and_verifies(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    proof = TREE.consistency_proof(size1, size2)
    assert proof == ref_subproof(size1, LEAVES[:size2], True)
    verify_consistency(size1, size2, proof, TREE.root(size1), TREE.root(size2))
    assert root_from_consistency_proof(size1, size2, proof, TREE.root(size1)) == TREE.root(size2)


@given(data=st.data(), pair=proper_size_pairs())
def test_flipping_any_bit_of_any_consistency_proof_element_fails(
    data: st.DataObject, pair: tuple[int, int]
) -> None:
    size1, size2 = pair
    proof = TREE.consistency_proof(size1, size2)
    element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    with pytest.raises(ConsistencyError, match="expected root"):
        verify_consistency(size1, size2, _flip(proof, element, bit), TREE.root(size1), TREE.root(size2))


@given(data=st.data(), pair=proper_size_pairs())
def test_flipping_any_bit_of_either_root_fails(data: st.DataObject, pair: tuple[int, int]) -> None:
    size1, size2 = pair
    proof = TREE.consistency_proof(size1, size2)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    [bad1] = _flip([TREE.root(size1)], 0, bit)
    [bad2] = _flip([TREE.root(size2)], 0, bit)
    with pytest.raises(ConsistencyError):
        verify_consistency(size1, size2, proof, bad1, TREE.root(size2))
    with pytest.raises(ConsistencyError):
        verify_consistency(size1, size2, proof, TREE.root(size1), bad2)


@given(data=st.data(), pair=proper_size_pairs())
def test_consistency_proof_for_one_size_pair_does_not_verify_another_pair(
    data: st.DataObject, pair: tuple[int, int]
) -> None:
    size1, size2 = pair
    other1 = data.draw(st.integers(min_value=1, max_value=MAX_SIZE - 1), label="other1")
    other2 = data.draw(st.integers(min_value=other1 + 1, max_value=MAX_SIZE), label="other2")
    if (other1, other2) == (size1, size2):
        return
    proof = TREE.consistency_proof(size1, size2)
    if proof == TREE.consistency_proof(other1, other2):
        return  # literally the same proof for both pairs (same subtrees are involved)
    with pytest.raises(ConsistencyError):
        verify_consistency(other1, other2, proof, TREE.root(other1), TREE.root(other2))


@given(pair=proper_size_pairs())
def test_consistency_proof_that_is_too_long_or_too_short_is_rejected_by_length(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    proof = TREE.consistency_proof(size1, size2)
    root1, root2 = TREE.root(size1), TREE.root(size2)
    with pytest.raises(ConsistencyError, match="wrong proof size"):
        verify_consistency(size1, size2, [*proof, root1], root1, root2)
    with pytest.raises(ConsistencyError, match="wrong proof size"):
        verify_consistency(size1, size2, [root2, *proof], root1, root2)
    with pytest.raises(ConsistencyError, match=r"wrong proof size|empty proof"):
        verify_consistency(size1, size2, proof[:-1], root1, root2)


@given(pair=proper_size_pairs())
def test_a_forked_log_fails_consistency(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    forked = MemoryTree([*LEAVES[: size1 - 1], leaf_hash(b"rewritten history"), *LEAVES[size1:size2]])
    proof = forked.consistency_proof(size1, size2)
    with pytest.raises(ConsistencyError):
        verify_consistency(size1, size2, proof, TREE.root(size1), forked.root(size2))


def test_consistency_degenerate_sizes_follow_transparency_dev() -> None:
    r = TREE.root
    # Equal non-zero sizes: empty proof and identical roots.
    verify_consistency(5, 5, [], r(5), r(5))
    with pytest.raises(ConsistencyError, match="not empty"):
        verify_consistency(5, 5, [r(5)], r(5), r(5))
    with pytest.raises(ConsistencyError, match="expected root2"):
        verify_consistency(5, 5, [], r(5), r(6))
    # From the empty tree: meaningless, always rejected (the generator returns []).
    assert TREE.consistency_proof(0, 7) == []
    for size2 in (0, 7):
        with pytest.raises(ConsistencyError, match="empty tree"):
            verify_consistency(0, size2, [], EMPTY_ROOT, r(size2))
    # Shrinking, negative sizes and missing proofs.
    with pytest.raises(ConsistencyError, match="size2"):
        verify_consistency(7, 6, [], r(7), r(6))
    with pytest.raises(ConsistencyError):
        verify_consistency(-1, 6, [], r(1), r(6))
    with pytest.raises(ConsistencyError, match="empty proof"):
        verify_consistency(3, 6, [], r(3), r(6))
    with pytest.raises(ConsistencyError, match="root1 must be 32 bytes"):
        verify_consistency(4, 6, TREE.consistency_proof(4, 6), r(4)[:16], r(6))


def test_consistency_error_names_expected_and_computed_roots_in_hex() -> None:
    proof = TREE.consistency_proof(6, 13)
    wrong = TREE.root(14)
    computed = root_from_consistency_proof(6, 13, proof, TREE.root(6))
    with pytest.raises(ConsistencyError) as excinfo:
        verify_consistency(6, 13, proof, TREE.root(6), wrong)
    assert wrong.hex() in str(excinfo.value)
    assert computed.hex() in str(excinfo.value)


# --------------------------------------------------------------------------- O(log n) reads


def _ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


def _counting(reads: list[tuple[int, int]], size: int) -> SubtreeHasher:
    def subtree(start: int, end: int) -> bytes:
        assert 0 <= start < end <= size
        # Each requested range is a node of the tree (complete, or on the right border), so
        # it starts on a multiple of the largest power of two not exceeding its length.
        span = end - start
        assert start % (1 << (span.bit_length() - 1)) == 0
        reads.append((start, end))
        return TREE.subtree_hash(start, end)

    return subtree


@settings(max_examples=200)
@given(data=st.data(), size=sizes)
def test_inclusion_proof_reads_at_most_ceil_log2_n_subtree_hashes(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    reads: list[tuple[int, int]] = []
    proof = inclusion_proof(index, size, _counting(reads, size))
    assert len(reads) == len(proof) <= _ceil_log2(size)
    assert len(set(reads)) == len(reads)


@settings(max_examples=200)
@given(pair=size_pairs())
def test_consistency_proof_reads_at_most_ceil_log2_n_plus_one_subtree_hashes(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    reads: list[tuple[int, int]] = []
    proof = consistency_proof(size1, size2, _counting(reads, size2))
    assert len(reads) == len(proof) <= _ceil_log2(size2) + 1
    assert len(set(reads)) == len(reads)


def test_read_bound_holds_for_astronomically_large_trees() -> None:
    # The generator never enumerates leaves, so a 2^40-leaf log costs ~40 reads.
    reads: list[tuple[int, int]] = []

    def fake(start: int, end: int) -> bytes:
        reads.append((start, end))
        return hashlib.sha256(f"{start}:{end}".encode()).digest()

    size = 2**40 + 12345
    assert len(inclusion_proof(size // 3, size, fake)) == len(reads) <= _ceil_log2(size)
    reads.clear()
    assert len(consistency_proof(size // 3, size, fake)) == len(reads) <= _ceil_log2(size) + 1


def test_generators_reject_impossible_arguments() -> None:
    for index, size in [(0, 0), (5, 5), (-1, 3)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, TREE.subtree_hash)
    for first, second in [(4, 3), (-1, 3)]:
        with pytest.raises(ValueError):
            consistency_proof(first, second, TREE.subtree_hash)
    with pytest.raises(ValueError):
        MemoryTree(LEAVES[:4]).inclusion_proof(0, 5)
    with pytest.raises(ValueError):
        MemoryTree().append(b"short")
