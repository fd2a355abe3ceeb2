"""Hand-off codes without a database: chunking, reassembly, and the counter key the CLI makes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.applications import handoff
from hub.cli import app as cli


def test_chunks_reassemble_in_any_order_and_repeats_are_harmless() -> None:
    token = "x" * 1500 + "." + "y" * 1500
    chunks = handoff.split(token)
    assert len(chunks) == 5 and all(len(c) <= handoff.CHUNK_CHARS + 32 for c in chunks)
    assert handoff.reassemble([*reversed(chunks), chunks[2]]) == token


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: c[:-1], "missing_chunks"),
        (lambda c: [c[0].replace(":1:", ":9:", 1), *c[1:]], "bad_chunk_index"),
        (lambda c: [*c, c[0][:-1] + "Z"], "conflicting_chunks"),
        (lambda c: [*c[1:], "GYH1:ffffffff:1:3:abc"], "mixed_handoffs"),
        (lambda c: ["https://example.test/not-a-handoff"], "not_a_handoff_code"),
        (lambda c: [], "missing_chunks"),
    ],
)
def test_broken_sets_of_codes_are_refused_with_their_reason(mutate: object, reason: str) -> None:
    chunks = handoff.split("a" * 2000)
    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.reassemble(mutate(chunks))  # type: ignore[operator]
    assert refused.value.reason == reason and refused.value.slug == "handoff-unreadable"


def test_a_handoff_too_long_for_the_codes_allowed_is_not_cut() -> None:
    with pytest.raises(ValueError, match="at most"):
        handoff.split("a" * (handoff.CHUNK_CHARS * handoff.MAX_CHUNKS + 1))


def test_counter_key_command_prints_only_the_public_half(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["applications", "counter-key", "Seocho-gu Office"], env={"GONGYU_VAR_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    jwk = json.loads(result.stdout)
    assert (jwk["kty"], jwk["crv"], jwk["use"]) == ("EC", "P-256", "enc") and "d" not in jwk
    counter_id = handoff.counter_id_for("Seocho-gu Office")
    [pem] = (tmp_path / "keys" / "applications" / "counters").glob(f"{counter_id}.p256.pem")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    again = CliRunner().invoke(
        cli, ["applications", "counter-key", "Seocho-gu Office"], env={"GONGYU_VAR_DIR": str(tmp_path)}
    )
    assert json.loads(again.stdout) == jwk, "the key pair is kept, not replaced"


def test_counter_ids_cannot_leave_the_key_directory() -> None:
    from hub.keys import counter_key_path

    for bad in ("../../etc/passwd", "ORG", "", "a" * 65, "org/x"):
        with pytest.raises(ValueError):
            counter_key_path(Path("/keys"), bad)
