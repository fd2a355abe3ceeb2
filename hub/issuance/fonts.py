"""A Korean-capable TrueType font for reportlab, built once from Noto Sans KR and cached.

The font comes from PyPI (``pylopdf-fonts-ko``: Noto Sans KR, SIL OFL 1.1), so nothing outside the project's
own dependencies is needed. Noto's CJK fonts have PostScript (CFF) outlines, which reportlab cannot embed;
on first use we convert the glyphs documents need (Latin with Vietnamese, Hangul syllables and jamo, kana, CJK
ideographs and punctuation, a few symbols) to TrueType quadratic outlines with fontTools and cache the result
(a few seconds, once per machine). reportlab then embeds a subset of exactly the glyphs each PDF uses.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

FONT_NAME = "GongyuSansKR"
CONVERTER_VERSION = "2"  # 2: Vietnamese (Latin Extended-B and Additional) and kana
_RANGES = (
    (0x0020, 0x007E),
    (0x00A0, 0x017F),
    (0x0180, 0x024F),
    (0x0300, 0x036F),
    (0x1E00, 0x1EFF),
    (0x2010, 0x206F),
    (0x2190, 0x21FF),
    (0x2460, 0x24FF),
    (0x25A0, 0x25FF),
    (0x3000, 0x303F),
    (0x3040, 0x30FF),
    (0x3130, 0x318F),
    (0x3200, 0x32FF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0xF900, 0xFAFF),
    (0xFF01, 0xFF5E),
)
_lock = threading.Lock()
_registered = False


def source_font() -> Path:
    import pylopdf_fonts_ko

    return Path(pylopdf_fonts_ko.sans_path())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gongyu" / "fonts"


def _convert(source: Path, target: Path) -> None:
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont

    src = TTFont(str(source), lazy=True)
    cmap = src.getBestCmap()
    wanted = {cp: cmap[cp] for lo, hi in _RANGES for cp in range(lo, hi + 1) if cp in cmap}
    names = [".notdef", *sorted(set(wanted.values()) - {".notdef"})]
    glyph_set = src.getGlyphSet()
    hmtx = src["hmtx"]
    glyphs, metrics = {}, {}
    for name in names:
        pen = TTGlyphPen(None)
        # Cubic → quadratic within 1 font unit; TrueType winds contours the other way round.
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
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
            "familyName": FONT_NAME,
            "styleName": "Regular",
            "copyright": "Converted from Noto Sans KR (SIL Open Font License 1.1)",
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
    os.replace(tmp, target)


def truetype_font(cache_dir: Path | None = None) -> Path:
    """The converted font's path, converting on first use (safe under concurrent processes)."""
    source = source_font()
    digest = hashlib.sha256(f"{source.stat().st_size}:{source.name}:{CONVERTER_VERSION}".encode()).hexdigest()
    directory = cache_dir or default_cache_dir()
    target = directory / f"{FONT_NAME}-{digest[:16]}.ttf"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _convert(source, target)
    return target


def register(cache_dir: Path | None = None) -> str:
    """Register the font with reportlab once per process; returns its reportlab name."""
    global _registered
    with _lock:
        if not _registered:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            pdfmetrics.registerFont(TTFont(FONT_NAME, str(truetype_font(cache_dir))))
            _registered = True
    return FONT_NAME
