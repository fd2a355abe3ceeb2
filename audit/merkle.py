"""Merkle tree hashing, proof generation and proof verification for the audit log.

The audit log is an append-only RFC 9162 (Certificate Transparency v2) Merkle tree, so any
party holding a signed checkpoint can check, without trusting the hub, that a given audit
record is in the log (inclusion) and that the log was only ever appended to (consistency).

Everything here is pure and I/O-free: proof *generation* reads subtree hashes through a
caller-supplied callback so the storage layer decides where hashes come from (stored tiles,
a node table, or a full recomputation), and proof *verification* needs nothing but the
proof.  Semantics, including every edge case, follow transparency-dev/merkle
(``proof/verify.go``), which is also what sigstore-python's ``_internal/merkle.py`` mirrors,
so our proofs interoperate with existing tlog tooling and its published test vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ConsistencyError",
    "InclusionError",
    "MemoryTree",
    "MerkleError",
    "SubtreeHasher",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""SHA-256 output length; every leaf, node and root hash must have exactly this size."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

# RFC 9162 §2.1.1: MTH({}) = HASH(), the hash of the empty string.
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

SubtreeHasher = Callable[[int, int], bytes]
"""``subtree(start, end)`` -> MTH of the leaves in ``[start, end)``.

Proof generation only ever asks for ranges that are nodes of the tree: ``start`` is a
multiple of the largest power of two not exceeding ``end - start``, and the range is either
a complete (power-of-two sized) subtree or the incomplete right-border subtree of a tree of
some size.  A storage layer can therefore answer each call from O(log n) stored node hashes.
"""


class MerkleError(ValueError):
    """A proof did not check out; callers treat any subclass as evidence of a bad log or proof."""


class InclusionError(MerkleError):
    """Raised when an inclusion proof does not tie a leaf to the claimed root."""


class ConsistencyError(MerkleError):
    """Raised when a consistency proof does not show the second tree extends the first."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(leaf: bytes) -> bytes:
    """Domain-separate leaves from interior nodes so no leaf can masquerade as a subtree.

    RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)).
    """
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Combine two child hashes under the interior-node prefix (second-preimage resistance).

    RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """RFC 9162 §2.1.1: k is the largest power of two smaller than n (requires n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Compute MTH directly, for small trees and as the reference the proof code is tested against.

    RFC 9162 §2.1.1 (MTH), including the empty tree.  Runs in O(n) without recursion by
    folding the right border the same way a compact range does.
    """
    if not hashes:
        return EMPTY_ROOT
    # Stack of (height, hash) for perfect subtrees along the right border, left to right.
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        height, cur = 0, h
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            cur = node_hash(left, cur)
            height += 1
        stack.append((height, cur))
    # Merge the (decreasing) perfect subtrees right-to-left: that is exactly how MTH splits
    # an incomplete tree at the largest power of two.
    _, root = stack.pop()
    while stack:
        _, left = stack.pop()
        root = node_hash(left, root)
    return root


# --------------------------------------------------------------------------- generation


def inclusion_proof(index: int, size: int, subtree: SubtreeHasher) -> list[bytes]:
    """Produce an audit path while touching only the ceil(log2 size) sibling subtrees it contains.

    RFC 9162 §2.1.3.1 PATH(m, D[n]); the result is ordered leaf-to-root, as the verifier
    of §2.1.3.2 consumes it.  Exactly one ``subtree`` call is made per proof element.
    """
    path = [subtree(start, end) for start, end in _path_root_first(index, size)]
    path.reverse()
    return path


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` whose subtree hashes make up the audit path, leaf to root: what
    :func:`inclusion_proof` asks ``subtree`` for, in proof order, without a hasher (a server that reads the
    stored nodes of many proofs at once needs the ranges first)."""
    ranges = _path_root_first(index, size)
    ranges.reverse()
    return ranges


def _path_root_first(index: int, size: int) -> list[tuple[int, int]]:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    # Walk down from the root; each step records the sibling of the half containing index.
    while end - start > 1:
        mid = start + (1 << ((end - start - 1).bit_length() - 1))  # RFC 9162 §2.1.1's k, inlined
        if index < mid:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((mid, end))
            end = mid
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, mid))
            start = mid
    return ranges


def consistency_proof(first: int, second: int, subtree: SubtreeHasher) -> list[bytes]:
    """Produce the minimal set of subtree hashes that proves ``first`` is a prefix of ``second``.

    RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true).  As in transparency-dev/merkle
    the proof is empty when ``first == second`` or ``first == 0`` (the latter proves nothing
    and is rejected by the verifier).  Exactly one ``subtree`` call is made per proof element.
    """
    if first < 0 or second < first:
        raise ValueError(f"cannot prove consistency from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    proof: list[bytes] = []
    start, end, m = 0, second, first
    starting_from_root = True  # the "b" flag of SUBPROOF
    while True:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
            if not starting_from_root:
                proof.append(subtree(start, end))
            break
        k = _split_point(n)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(subtree(start, start + k))
            start += k
            m -= k
            starting_from_root = False
    # Appended outer-first; the RFC's recursion emits inner-first.
    proof.reverse()
    return proof


class MemoryTree:
    """An in-memory log for tests and for auditors that recompute a whole tree from its leaves.

    Subtree hashes are memoised per range: the tree is append-only, so the hash of a range
    that is already fully populated can never change.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._leaves: list[bytes] = []
        self._cache: dict[tuple[int, int], bytes] = {}
        for h in leaf_hashes:
            self.append(h)

    def __len__(self) -> int:
        return len(self._leaves)

    @property
    def leaf_hashes(self) -> tuple[bytes, ...]:
        """Expose a snapshot so callers cannot rewrite history behind the cache."""
        return tuple(self._leaves)

    def append(self, leaf_hash: bytes) -> int:
        """Add an already-hashed leaf (see :func:`leaf_hash`); returns its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        self._leaves.append(bytes(leaf_hash))
        return len(self._leaves) - 1

    def append_data(self, data: bytes) -> int:
        """Hash raw entry bytes as an RFC 9162 leaf and append them; returns the index."""
        return self.append(leaf_hash(data))

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves[start:end]; this is the :data:`SubtreeHasher` the proof functions use."""
        if not 0 <= start <= end <= len(self._leaves):
            raise ValueError(f"range [{start}, {end}) is outside a tree of size {len(self._leaves)}")
        return self._mth(start, end)

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self._leaves[start]
        key = (start, end)
        cached = self._cache.get(key)
        if cached is None:
            k = _split_point(n)
            cached = node_hash(self._mth(start, start + k), self._mth(start + k, end))
            self._cache[key] = cached
        return cached

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree as it was at ``size`` leaves (default: now)."""
        return self.subtree_hash(0, len(self._leaves) if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for ``index`` in the tree of ``size`` leaves (default: now)."""
        size = len(self._leaves) if size is None else size
        if size > len(self._leaves):
            raise ValueError(f"tree size {size} exceeds the {len(self._leaves)} leaves held")
        return inclusion_proof(index, size, self.subtree_hash)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Consistency proof from ``first`` to ``second`` leaves (default: now)."""
        second = len(self._leaves) if second is None else second
        if second > len(self._leaves):
            raise ValueError(f"tree size {second} exceeds the {len(self._leaves)} leaves held")
        return consistency_proof(first, second, self.subtree_hash)


# --------------------------------------------------------------------------- verification


def _check_hash(what: str, value: bytes, error: type[MerkleError]) -> None:
    # transparency-dev/merkle rejects leaf hashes of the wrong size.  We also reject proof
    # elements and roots of the wrong size wherever a root is actually recomputed, so malformed
    # input fails with a clear message.  A correct proof is never affected; the only proof this
    # rejects that Go would accept is one that "verifies" by echoing a malformed root1 as the
    # seed.  Equal-sizes consistency stays a plain root comparison, as the vectors require.
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof(proof: Sequence[bytes], error: type[MerkleError]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h, error)


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """Split an audit path where the paths to ``index`` and ``size - 1`` diverge.

    Below the split ("inner") siblings may sit on either side; above it ("border") the
    path runs along the tree's right border so every sibling is a left one.  Their sum is
    the only valid proof length, which is how over- and under-long proofs are rejected.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like _chain_inner but only folds in left siblings: yields the older version of the subtree."""
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Recompute the root an audit path commits to, for callers that compare roots themselves.

    RFC 9162 §2.1.3.2 steps 1-5 (the final comparison is left to the caller).  Raises
    :class:`InclusionError` for an impossible index or a proof of the wrong length.
    """
    if index < 0 or size < 0:
        raise InclusionError(f"index ({index}) and size ({size}) must be non-negative")
    if index >= size:
        raise InclusionError(f"index is beyond size: {index} >= {size}")
    _check_hash("leaf hash", leaf_hash, InclusionError)
    _check_proof(proof, InclusionError)
    inner, border = _decomp_incl_proof(index, size)
    if len(proof) != inner + border:
        raise InclusionError(f"wrong proof size {len(proof)}, want {inner + border}")
    res = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Prove a specific audit record is committed to by a (signed) root.

    RFC 9162 §2.1.3.2.  Returns normally on success; raises :class:`InclusionError` otherwise.
    """
    _check_hash("root", root, InclusionError)
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise InclusionError(
            f"inclusion proof for leaf {index} in tree of size {size} does not match: "
            f"expected root {root.hex()}, computed root {computed.hex()}"
        )


def root_from_consistency_proof(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> bytes:
    """Check the proof against ``root1`` and return the size2 root it commits to.

    RFC 9162 §2.1.4.2 with transparency-dev/merkle's handling of the degenerate cases
    (matching its published test vectors): a proof from size 0 is rejected as meaningless,
    even to size 0, because every tree extends the empty one so it would pin nothing; equal
    non-zero sizes need an empty proof and simply return ``root1`` for comparison.
    """
    if size1 < 0 or size2 < 0:
        raise ConsistencyError(f"sizes must be non-negative, got {size1} and {size2}")
    if size2 < size1:
        raise ConsistencyError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ConsistencyError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ConsistencyError(f"size1 == size2 ({size1}), but proof is not empty")
        return root1
    if not proof:
        raise ConsistencyError("empty proof")
    _check_hash("root1", root1, ConsistencyError)
    _check_proof(proof, ConsistencyError)

    # §2.1.4.2 steps 3-4: skip the levels below the largest complete subtree ending at leaf
    # size1-1 (its height is the number of trailing zero bits of size1).
    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner -= shift  # shift < inner whenever size1 < size2

    # Step 2: if size1 is a power of two, the old root is that subtree and is not sent.
    if size1 == 1 << shift:
        seed, rest = root1, proof
    else:
        seed, rest = proof[0], proof[1:]
    if len(rest) != inner + border:
        want = inner + border + (len(proof) - len(rest))
        raise ConsistencyError(f"wrong proof size {len(proof)}, want {want}")

    # Steps 5-7: fold the path twice, once with only left siblings (rebuilding the old root)
    # and once with all of them (building the new root).
    mask = (size1 - 1) >> shift
    hash1 = _chain_inner_right(seed, rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    if hash1 != root1:
        raise ConsistencyError(
            f"consistency proof does not match the tree of size {size1}: "
            f"expected root1 {root1.hex()}, computed root1 {hash1.hex()}"
        )
    hash2 = _chain_inner(seed, rest[:inner], mask)
    return _chain_border_right(hash2, rest[inner:])


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Prove the log at ``size2`` is an append-only extension of the log at ``size1``.

    RFC 9162 §2.1.4.2.  Returns normally on success; raises :class:`ConsistencyError` otherwise.
    """
    computed = root_from_consistency_proof(size1, size2, proof, root1)
    if size1 != size2:
        _check_hash("root2", root2, ConsistencyError)
    if computed != root2:
        raise ConsistencyError(
            f"consistency proof from size {size1} to {size2} does not match: "
            f"expected root2 {root2.hex()}, computed root2 {computed.hex()}"
        )
