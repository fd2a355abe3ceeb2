"""TrueType fonts for reportlab, one per script the e-document draws, each built once and cached.

The fonts come from PyPI (``pylopdf-fonts-ko``, ``-th``, ``-zh-cn``, ``-jp``: Noto Sans KR, Thai, SC and JP,
SIL OFL 1.1), so nothing outside the project's own dependencies is needed. Korean is always on the page (the
original) and is drawn in Noto Sans KR; the resident's own language is drawn in its own font when Noto Sans KR
is not the right one: it has no Thai at all, and draws Han characters in their Korean forms (and lacks some
simplified Chinese and Japanese kanji).

Noto's CJK fonts have PostScript (CFF) outlines, which reportlab cannot embed, and Noto Sans Thai is a
variable font; on first use we rebuild each as a static TrueType font holding only the characters documents
need (see ``FACES``), converting cubic outlines to quadratic ones with fontTools, and cache the result
(seconds, once per machine and font). reportlab then embeds a subset of exactly the glyphs each PDF uses.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# 3: a font per script (Thai, simplified Chinese, Japanese beside Korean); the ranges are in the cache key too
CONVERTER_VERSION = "3"

Ranges = tuple[tuple[int, int], ...]
_LATIN: Ranges = ((0x0020, 0x007E), (0x00A0, 0x00FF), (0x2010, 0x206F))
_HAN: Ranges = ((0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# Han characters and kana for Chinese and Japanese, with their punctuation, units (㎡) and full-width forms.
_CJK: Ranges = (
    *_LATIN,
    (0x3000, 0x303F),
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3300, 0x33FF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF01, 0xFF5E),
)


@dataclass(frozen=True)
class Face:
    """One font the documents use: its reportlab name, where it comes from, and the characters kept."""

    name: str
    family: str  # the source's family, named in the converted font's copyright notice
    module: str  # the PyPI package's module, whose ``sans_path()`` is the source font
    ranges: Ranges
    # Keep only the Han characters of this legacy character set (GB 2312, JIS X 0208): the 6,000-odd in
    # everyday use rather than all 21,000, which makes the conversion a third as long. A rarer one is drawn
    # in Noto Sans KR, in its Korean form, as it was before this font.
    han: str | None = None

    def keeps(self, cp: int) -> bool:
        if self.han is None or not any(lo <= cp <= hi for lo, hi in _HAN):
            return True
        try:
            chr(cp).encode(self.han)
        except UnicodeEncodeError:
            return False
        return True


FONT_NAME = "GongyuSansKR"
KOREAN = Face(
    FONT_NAME,
    "Noto Sans KR",
    "pylopdf_fonts_ko",
    (
        (0x0020, 0x007E),
        (0x00A0, 0x017F),
        (0x0180, 0x024F),
        (0x0300, 0x036F),
        (0x1E00, 0x1EFF),  # Vietnamese, drawn in this font too
        (0x2010, 0x206F),
        (0x2190, 0x21FF),
        (0x2460, 0x24FF),
        (0x25A0, 0x25FF),
        (0x3000, 0x303F),
        (0x3040, 0x30FF),
        (0x3130, 0x318F),
        (0x3200, 0x32FF),
        (0x3300, 0x33FF),  # units: the building register's ㎡
        (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFF01, 0xFF5E),
    ),
)
# The resident's language → its own font; a language not here (ko, en, vi) is drawn in Noto Sans KR.
FACES: Mapping[str, Face] = {
    "ko": KOREAN,
    "th": Face("GongyuSansTH", "Noto Sans Thai", "pylopdf_fonts_th", (*_LATIN, (0x0E00, 0x0E7F))),
    "zh": Face("GongyuSansSC", "Noto Sans SC", "pylopdf_fonts_zh_cn", _CJK, "gb2312"),
    "ja": Face("GongyuSansJP", "Noto Sans JP", "pylopdf_fonts_jp", _CJK, "shift_jis"),
}
_lock = threading.Lock()
_registered: set[str] = set()


def source_font(face: Face = KOREAN) -> Path:
    return Path(importlib.import_module(face.module).sans_path())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gongyu" / "fonts"


def _convert(face: Face, source: Path, target: Path) -> None:
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont

    src = TTFont(str(source), lazy=True)
    cubic = "CFF " in src
    cmap = src.getBestCmap()
    wanted = {
        cp: cmap[cp] for lo, hi in face.ranges for cp in range(lo, hi + 1) if cp in cmap and face.keeps(cp)
    }
    names = [".notdef", *sorted(set(wanted.values()) - {".notdef"})]
    glyph_set = src.getGlyphSet()  # a variable font's default instance (Noto Sans Thai: Regular)
    hmtx = src["hmtx"]
    glyphs, metrics = {}, {}
    for name in names:
        pen = TTGlyphPen(None)
        if cubic:
            # Cubic → quadratic within 1 font unit; TrueType winds contours the other way round.
            glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        else:
            # Already quadratic; components are drawn in place, since their glyphs may not be kept.
            recording = DecomposingRecordingPen(glyph_set)
            glyph_set[name].draw(recording)
            recording.replay(pen)
        glyphs[name] = pen.glyph()
        metrics[name] = hmtx[name]
    builder = FontBuilder(src["head"].unitsPerEm, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap(wanted)
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=src["hhea"].ascent, descent=src["hhea"].descent)
    builder.setupNameTable(
        {
            "familyName": face.name,
            "styleName": "Regular",
            "copyright": f"Converted from {face.family} (SIL Open Font License 1.1)",
        }
    )
    os2 = src["OS/2"]
    builder.setupOS2(
        sTypoAscender=os2.sTypoAscender,
        sTypoDescender=os2.sTypoDescender,
        sTypoLineGap=os2.sTypoLineGap,
        usWinAscent=os2.usWinAscent,
        usWinDescent=os2.usWinDescent,
        fsType=0,  # OFL: installable embedding
    )
    builder.setupPost()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    builder.save(str(tmp))
    os.replace(tmp, target)  # atomic: a concurrent process sees the old state or the whole font


def truetype_font(cache_dir: Path | None = None, face: Face = KOREAN) -> Path:
    """The converted font's path, converting on first use (safe under concurrent processes)."""
    source = source_font(face)
    key = f"{source.stat().st_size}:{source.name}:{face.ranges}:{face.han}:{CONVERTER_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    directory = cache_dir or default_cache_dir()
    target = directory / f"{face.name}-{digest[:16]}.ttf"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _convert(face, source, target)
    return target


def register(cache_dir: Path | None = None, language: str = "ko") -> str:
    """Register the font for ``language`` with reportlab once per process; returns its reportlab name.

    A language without a font of its own gets Noto Sans KR (which has Latin with Vietnamese). Only the fonts
    a process's documents use are converted and loaded: the Korean one at start-up, another on the first
    document in its language.
    """
    face = FACES.get(language, KOREAN)
    with _lock:
        if face.name not in _registered:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            pdfmetrics.registerFont(TTFont(face.name, str(truetype_font(cache_dir, face))))
            _registered.add(face.name)
    return face.name


def warm(cache_dir: Path | None = None) -> None:
    """Convert every language's font now (each once per machine, some seconds), so that no resident's first
    document in Thai, Chinese or Japanese waits for it; registering them stays per process and lazy."""
    for face in dict.fromkeys(FACES.values()):
        truetype_font(cache_dir, face)
