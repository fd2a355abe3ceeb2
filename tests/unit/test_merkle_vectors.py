"""Cross-implementation test vectors for audit.merkle (transparency-dev/merkle testdata).

The vectors ship with the project in ``tests/vectors/merkle`` (a copy of the 196 cases in
``shared/vectors/merkle``).  A missing directory is a test FAILURE, not a skip: silently
running zero vectors would look exactly like passing them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from audit.merkle import (
    ConsistencyError,
    InclusionError,
    MemoryTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

# Shipped with the project (copied from shared/vectors/merkle, transparency-dev/merkle testdata).
VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
EXPECTED_MIN_CASES = 196

# The 8 leaves of the reference tree from RFC 6962's era, used by transparency-dev/merkle
# (and Certificate Transparency before it) to generate the happy-path vectors.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _vector_files() -> list[Path]:
    if not VECTORS_DIR.is_dir():
        return []
    return sorted(VECTORS_DIR.rglob("*.json"))


def _params() -> list[Any]:
    files = _vector_files()
    if not files:
        # Keep one case so the run fails loudly instead of collecting nothing.
        return [pytest.param(None, id="vectors-directory-missing")]
    return [pytest.param(p, id=p.relative_to(VECTORS_DIR).with_suffix("").as_posix()) for p in files]


def _missing_message() -> str:
    return (
        f"Merkle test vectors not found at {VECTORS_DIR}: copy shared/vectors/merkle there."
    )


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(raw: list[str] | None) -> list[bytes]:
    return [_b64(h) for h in raw or []]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_vector_directory_holds_all_cases() -> None:
    files = _vector_files()
    assert files, _missing_message()
    assert len(files) >= EXPECTED_MIN_CASES, f"only {len(files)} vectors in {VECTORS_DIR}"
    kinds = {p.relative_to(VECTORS_DIR).parts[0] for p in files}
    assert kinds == {"inclusion", "consistency"}


def test_every_vector_file_is_collected_as_its_own_case() -> None:
    params = _params()
    assert len(params) >= EXPECTED_MIN_CASES, _missing_message()


@pytest.mark.parametrize("path", _params())
def test_vector_verdict_matches_transparency_dev(path: Path | None) -> None:
    if path is None:
        pytest.fail(_missing_message())
    case = _load(path)
    want_err = bool(case["wantErr"])
    if "leafIdx" in case:
        args = (
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["treeSize"],
            _proof(case["proof"]),
            _b64(case["root"]),
        )
        if want_err:
            with pytest.raises(InclusionError):
                verify_inclusion(*args)
        else:
            verify_inclusion(*args)
    else:
        cargs = (
            case["size1"],
            case["size2"],
            _proof(case["proof"]),
            _b64(case["root1"]),
            _b64(case["root2"]),
        )
        if want_err:
            with pytest.raises(ConsistencyError):
                verify_consistency(*cargs)
        else:
            verify_consistency(*cargs)


def _happy_paths(kind: str) -> list[dict[str, Any]]:
    out = []
    for p in _vector_files():
        if p.relative_to(VECTORS_DIR).parts[0] == kind and p.name == "happy-path.json":
            out.append(_load(p))
    return out


def test_generated_inclusion_proofs_equal_the_happy_path_vectors() -> None:
    cases = _happy_paths("inclusion")
    assert cases, _missing_message()
    tree = MemoryTree([leaf_hash(d) for d in REFERENCE_LEAVES])
    for case in cases:
        index, size = case["leafIdx"], case["treeSize"]
        assert tree.root(size) == _b64(case["root"])
        assert tree.leaf_hashes[index] == _b64(case["leafHash"])
        assert tree.inclusion_proof(index, size) == _proof(case["proof"])


def test_generated_consistency_proofs_equal_the_happy_path_vectors() -> None:
    cases = _happy_paths("consistency")
    assert cases, _missing_message()
    tree = MemoryTree([leaf_hash(d) for d in REFERENCE_LEAVES])
    for case in cases:
        size1, size2 = case["size1"], case["size2"]
        assert tree.root(size1) == _b64(case["root1"])
        assert tree.root(size2) == _b64(case["root2"])
        assert tree.consistency_proof(size1, size2) == _proof(case["proof"])
