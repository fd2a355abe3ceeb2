"""The layer contracts of DESIGN section 2 ([tool.importlinter] in pyproject.toml) hold.

`make test` runs `lint-imports` too; this test keeps the contracts in a plain `pytest` run and shows which
import chain broke one.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    script = Path(sysconfig.get_path("scripts")) / "lint-imports"
    return str(script) if script.exists() else str(Path(sys.executable).parent / "lint-imports")


def test_import_linter_contracts_are_kept() -> None:
    # Run from the repository root so that lint-imports reads its pyproject.toml; --no-cache leaves no
    # .import_linter_cache behind.
    result = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_contract_of_the_design_is_configured() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert set(config["root_packages"]) == {"hub", "adapters", "consent", "audit", "document_specs"}
    ids = {contract["id"] for contract in config["contracts"]}
    assert ids == {
        "faces-apart",
        "audit-standalone",
        "adapters-standalone",
        "consent-below-hub",
        "document-specs-standalone",
        "broker-no-faces",
        "witness-apart",
    }
