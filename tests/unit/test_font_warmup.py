"""The demo converts every language's font at start, so no resident's first document waits for one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.issuance import fonts


def test_warm_converts_each_languages_font_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted: list[str] = []

    def fake_convert(face: fonts.Face, source: Path, target: Path) -> None:
        converted.append(face.name)
        target.write_bytes(b"converted")

    monkeypatch.setattr(fonts, "_convert", fake_convert)
    fonts.warm(tmp_path)
    assert sorted(converted) == sorted({face.name for face in fonts.FACES.values()})
    assert len(list(tmp_path.glob("*.ttf"))) == len(converted)
    fonts.warm(tmp_path)  # a warm cache converts nothing again
    assert len(converted) == len({face.name for face in fonts.FACES.values()})
