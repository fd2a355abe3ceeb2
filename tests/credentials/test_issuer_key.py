"""The issuer key: a production hub never makes it on its own (issuance answers 503 and publishes no key until
``gongyu credentials issuer-key`` has made it), and the key it makes names itself by its thumbprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from document_specs.loader import load_catalog
from hub.cli import app as cli
from hub.credentials.keys import thumbprint
from hub.credentials.service import CredentialService
from hub.errors import Problem


def service(key_dir: Path) -> CredentialService:
    # The broker and the trail are not reached: nothing here looks up or records.
    return CredentialService(
        load_catalog(),
        None,
        None,
        public_url="https://hub.example",
        key_dir=key_dir,
        create_keys=False,  # type: ignore[arg-type]
    )


def test_without_its_key_a_production_hub_publishes_none_and_refuses_to_issue(tmp_path: Path) -> None:
    production = service(tmp_path / "keys")
    assert production.jwks() == []
    with pytest.raises(Problem) as refused:
        _ = production.key
    assert (refused.value.status, refused.value.slug) == (503, "credential-issuance-unavailable")
    assert not (tmp_path / "keys").exists()


def test_the_cli_makes_the_key_once_and_the_hub_then_publishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONGYU_KEY_DIR", str(tmp_path / "keys"))
    first = CliRunner().invoke(cli, ["credentials", "issuer-key"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["credentials", "issuer-key"])
    published = json.loads(first.output[first.output.index("{") :])
    assert json.loads(again.output[again.output.index("{") :]) == published  # kept, not replaced
    assert published["kid"] == thumbprint(published) and "d" not in published
    assert service(tmp_path / "keys").jwks() == [published]
