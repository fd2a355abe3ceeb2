"""Rendering the e-document: fields with ko/en titles, the QR, number, time and an anti-copy background.

Everything is drawn as vectors with reportlab: the guilloche (hypotrochoid rosettes and phase-shifted
wave bands, a pattern that photocopiers and scanners blur), microtext lines repeating the issuance
number (they turn into a grey line when copied), and the QR code itself (one filled path, sharp at any
zoom). The guilloche is one of 16 variants chosen by the number's hash (each computed once per process), the
microtext carries the number itself. Korean is drawn in Noto Sans KR, the resident's language in its own font
where it has one (Thai, simplified Chinese, Japanese; see ``fonts``), each embedded as a subset. The fixed
labels come from the ``edocument`` gettext catalog, in Korean and beside it in the resident's language; the
values are Korean data, tagged in the language of their script (``languages``) so a screen reader reads a
Korean name in Korean whatever the document's language.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from reportlab import rl_config
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.pathobject import PDFPathObject

from document_specs.model import DISPLAY_LANGUAGES, DocumentSpec, FieldSpec
from hub import i18n
from hub.issuance import numbers
from hub.issuance.languages import script_language
from hub.issuance.qr import make_qr
from hub.issuance.signing import SIGNATURE_FIELD
from hub.issuance.tagging import Element, Tagger

rl_config.useA85 = 0  # binary streams: smaller files, and no ASCII85 pass over the embedded font
KST = timezone(timedelta(hours=9), "KST")
PAGE_W, PAGE_H = A4
MARGIN = 18 * mm
INK = Color(0.10, 0.13, 0.22)
MUTED = Color(0.35, 0.38, 0.45)
GUILLOCHE = (Color(0.72, 0.81, 0.91), Color(0.89, 0.80, 0.88))
MICRO = Color(0.45, 0.55, 0.70)
RULE = Color(0.70, 0.74, 0.82)
QR_SIZE = 42 * mm
FOOTER_H = QR_SIZE + 16 * mm
DOMAIN = "edocument"  # the gettext catalog of the fixed labels (hub/locales/<lang>/LC_MESSAGES/edocument.po)


def label(lang: str, key: str, **params: object) -> str:
    """A fixed label of the e-document (``edoc.<key>``) in ``lang``."""
    return i18n.gettext(lang, DOMAIN, f"edoc.{key}").format(**params)


@dataclass(frozen=True)
class RenderRequest:
    spec: DocumentSpec
    view: str
    fields: Mapping[str, Any]
    number: str
    issued_at: datetime
    qr_payload: str
    verify_url: str
    check_code: str
    language: str = "ko"  # the resident's: shown beside the Korean original (see ``languages``)


VARIANTS = 16  # guilloche variants, picked by the number's hash; each is computed once per process


def _seed(number: str) -> list[float]:
    digest = hashlib.sha256(number.encode()).digest()
    return [b / 255 for b in digest]


def _rosette(cx: float, cy: float, big_r: float, r: float, d: float, phase: float) -> PDFPathObject:
    """Hypotrochoid x = (R-r)cos t + d cos((R-r)t/r), closed after r/gcd(R, r) turns."""
    turns = int(r / math.gcd(int(big_r), int(r)))
    steps = 90 * turns
    path = PDFPathObject()
    k = (big_r - r) / r
    for i in range(steps + 1):
        t = 2 * math.pi * turns * i / steps
        x = cx + (big_r - r) * math.cos(t + phase) + d * math.cos(k * t - phase)
        y = cy + (big_r - r) * math.sin(t + phase) - d * math.sin(k * t - phase)
        if i == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    return path


def _waves(y0: float, height: float, lines: int, seed: Sequence[float]) -> list[PDFPathObject]:
    paths = []
    for j in range(lines):
        phase = 2 * math.pi * (seed[j % len(seed)] + j / lines)
        amp = height * (0.25 + 0.2 * seed[(j + 7) % len(seed)])
        path = PDFPathObject()
        steps = 160
        for i in range(steps + 1):
            x = PAGE_W * i / steps
            u = 2 * math.pi * i / steps
            y = y0 + height / 2 + amp * math.sin(3 * u + phase) * math.cos(u * 1.5 - phase / 2)
            if i == 0:
                path.moveTo(x, y)
            else:
                path.lineTo(x, y)
        paths.append(path)
    return paths


def _stroke_rgb(color: Color) -> str:
    return f"{fp_str(color.red)} {fp_str(color.green)} {fp_str(color.blue)} RG"


@functools.lru_cache(maxsize=VARIANTS)
def _guilloche(variant: int) -> str:
    """PDF operators of one guilloche variant (pure vector strokes, 0.25 pt)."""
    seed = _seed(f"gongyu-guilloche-{variant}")
    ops = ["q 0.25 w", _stroke_rgb(GUILLOCHE[0])]
    ops += [p.getCode() + " S" for p in _waves(PAGE_H - 40 * mm, 30 * mm, 14, seed)]
    ops += [p.getCode() + " S" for p in _waves(6 * mm, 20 * mm, 10, seed[10:])]
    ops.append(_stroke_rgb(GUILLOCHE[1]))
    ops.append(
        _rosette(PAGE_W / 2, PAGE_H / 2 - 10 * mm, 60 * mm, 7 * mm, 22 * mm, seed[0] * math.pi).getCode()
    )
    ops.append("S")
    ops.append(_stroke_rgb(GUILLOCHE[0]))
    ops.append(
        _rosette(PAGE_W / 2, PAGE_H / 2 - 10 * mm, 44 * mm, 5 * mm, 15 * mm, seed[1] * math.pi).getCode()
    )
    ops.append("S Q")
    return "\n".join(ops)


def _microline(c: Canvas, font: str, x: float, y: float, width: float, text: str, angle: float = 0) -> None:
    c.saveState()
    c.translate(x, y)
    c.rotate(angle)
    c.setFont(font, 1.8)
    unit = c.stringWidth(text, font, 1.8)
    c.drawString(0, 0, text * max(1, int(width / unit) + 1))
    c.restoreState()


def _background(c: Canvas, font: str, number: str) -> None:
    c.addLiteral(_guilloche(hashlib.sha256(number.encode()).digest()[0] % VARIANTS))
    c.saveState()
    c.setFillColor(MICRO)
    micro = f"GONGYU 공유 진본 {numbers.display(number)} AUTHENTIC · "
    inner_w, inner_h = PAGE_W - 2 * (MARGIN - 5 * mm), PAGE_H - 2 * (MARGIN - 5 * mm)
    left, bottom = MARGIN - 5 * mm, MARGIN - 5 * mm
    for offset in (0, 2.2):
        _microline(c, font, left, bottom + inner_h - offset, inner_w, micro)
        _microline(c, font, left, bottom + offset, inner_w, micro)
        _microline(c, font, left + offset, bottom, inner_h, micro, 90)
        _microline(c, font, left + inner_w - offset, bottom, inner_h, micro, 90)
    c.restoreState()


def _draw_qr(c: Canvas, payload: str, x: float, y: float, size: float) -> None:
    qr = make_qr(payload)
    matrix = qr.matrix
    count = len(matrix) + 8  # 4-module quiet zone each side
    module = size / count
    c.saveState()
    c.setFillColor(Color(1, 1, 1))
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(Color(0, 0, 0))
    path = c.beginPath()
    for row, line in enumerate(matrix):
        col = 0
        while col < len(line):
            if line[col] & 1:
                start = col
                while col < len(line) and line[col] & 1:
                    col += 1
                path.rect(
                    x + (start + 4) * module, y + size - (row + 5) * module, (col - start) * module, module
                )
            else:
                col += 1
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


Part = tuple[str, str]  # a run of text and its language


_BREAK_ANYWHERE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")  # Han, kana, full-width
_CLOSING = frozenset("、。，．；：！？）」』】〕’”・ー")  # not at the start of a line
Line = tuple[float, float, float, Color, Sequence[Part]]  # x, y, font size, colour, runs


def _spec_texts(spec: DocumentSpec, lang: str) -> Iterator[str]:
    """What the page shows in ``lang``: the spec's titles and the fixed labels."""
    yield from i18n.catalog(lang, DOMAIN).values()
    yield spec.titles[lang]
    yield spec.holder_titles[lang]
    for view in spec.views:
        yield view.titles[lang]
    for field in spec.fields:
        yield field.titles[lang]
        for item in field.items:
            yield item.titles[lang]


def _glyphs(font: str) -> Mapping[int, int]:
    """The code points a registered TrueType font has glyphs for."""
    glyphs: Mapping[int, int] = pdfmetrics.getFont(font).face.charToGlyph
    return glyphs


@functools.lru_cache(maxsize=64)
def _drawable(fonts: tuple[str, ...], texts: tuple[str, ...]) -> bool:
    maps = [_glyphs(font) for font in fonts]
    return all(any(ord(ch) in m for m in maps) for text in texts for ch in text if not ch.isspace())


_THAI_UPPER_VOWELS = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e47")
_THAI_TONE_MARKS = frozenset("\u0e48\u0e49\u0e4a\u0e4b\u0e4c")
THAI_TONE_RISE = 0.2  # em: from the height of an upper vowel (Noto Sans Thai: 635-787) to above it


def _stacked(text: str) -> list[tuple[str, float]]:
    """``text`` in pieces with the rise (in em) each is drawn at: a Thai tone mark after an upper vowel, as in
    ที่, goes above the vowel. reportlab does not shape text, and Noto Sans Thai draws both marks at the same
    height, which its OpenType mark-to-mark positioning would otherwise correct; nothing else moves."""
    if not _THAI_TONE_MARKS.intersection(text):
        return [(text, 0.0)]
    pieces: list[tuple[str, float]] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in _THAI_TONE_MARKS and i and text[i - 1] in _THAI_UPPER_VOWELS:
            if i > start:
                pieces.append((text[start:i], 0.0))
            pieces.append((ch, THAI_TONE_RISE))
            start = i + 1
    if start < len(text):
        pieces.append((text[start:], 0.0))
    return pieces


def _segments(text: str, preferred: str, base: str) -> list[tuple[str, str]]:
    """``text`` cut into runs of one font each: ``preferred`` where it has the glyph, else ``base``.

    A space stays in the font of the run it is in, so a line in one script is one run (one ``Tf``).
    """
    glyphs = _glyphs(preferred)
    runs: list[tuple[str, str]] = []
    start, current = 0, ""
    for i, ch in enumerate(text):
        font = current if current and ch.isspace() else preferred if ord(ch) in glyphs else base
        if font != current:
            if i > start:
                runs.append((text[start:i], current))
            start, current = i, font
    if text:
        runs.append((text[start:], current))
    return runs


def languages(spec: DocumentSpec, wanted: str, font: str, own: str | None = None) -> tuple[str, str]:
    """(the document's language, the language shown beside Korean) for a resident who reads ``wanted``.

    Korean is always on the page (the original). A Korean or English reader gets Korean with English beside
    it, as before; any other language is shown beside Korean when every character its titles and labels need
    is in its own font ``own`` (Thai, simplified Chinese, Japanese) or in the Korean ``font`` (Vietnamese,
    and any character the language's font lacks), else the document falls back to English rather than print
    empty boxes.
    """
    if wanted not in DISPLAY_LANGUAGES or wanted == "ko":
        return "ko", "en"
    fonts = (font,) if own is None or own == font else (own, font)
    if wanted == "en" or _drawable(fonts, tuple(_spec_texts(spec, wanted))):
        return wanted, wanted
    return "en", "en"


class _Writer:
    """Page flow: header on every page, the QR block at the foot of the first page.

    Everything is drawn through :class:`~hub.issuance.tagging.Tagger`: real content in marked-content
    sequences of its structure element, decoration as artifacts. The structure is the reading order: title,
    the header lines, the fields (a Table of TH/TD rows; a list field is an H2 and a table of its own), then
    the verification block (the QR as a Figure with /Alt). A value whose script is another language's than
    the document's (a Korean name in a Thai document) is a Span of its cell with that /Lang. The QR block is
    drawn last on the first page, so the content stream's order (what ``pdftotext -raw`` and simple readers
    follow) is the same.
    """

    def __init__(self, c: Canvas, font: str, req: RenderRequest, own: str | None = None) -> None:
        self.c, self.font, self.req = c, font, req
        self.lang, self.second = languages(req.spec, req.language, font, own)
        # The runs in the resident's language are drawn in its own font (when it has one and it is shown).
        shown = own is not None and own != font and self.second == req.language
        self.faces: dict[str, str] = {self.second: own} if shown and own is not None else {}
        self.tag = Tagger(c, self.lang)
        self.doc = self.tag.root
        self.rows: Element | None = None  # the current table of single-value fields
        self.footer = Element("Sect")  # the verification block, last in reading order
        self.page = 0
        self.y = 0.0
        self.bottom = MARGIN

    def title(self) -> str:
        titles, number = self.req.spec.titles, numbers.display(self.req.number)
        if self.lang == "ko":
            return f"{titles['ko']} ({number})"
        return f"{titles[self.lang]} ({titles['ko']}, {number})"

    def new_page(self) -> None:
        if self.page:
            if self.page == 1:
                self._footer()
            self.c.showPage()
        self.page += 1
        self.tag.start_page()
        with self.tag.artifact():
            _background(self.c, self.font, self.req.number)
        self._header()
        self.bottom = MARGIN + (FOOTER_H if self.page == 1 else 8 * mm)

    def finish(self) -> None:
        if self.page == 1:
            self._footer()
        self.doc.kids.append(self.footer)

    def fixed(self, key: str, end: str = "", **params: object) -> list[Part]:
        """A fixed label in Korean, then a space and the label in the language shown beside it."""
        beside = f" {label(self.second, key, **params)}{end}"
        return [(label("ko", key, **params), "ko"), (beside, self.second)]

    def ko(self, titles: Mapping[str, str]) -> list[Part]:
        return [(titles["ko"], "ko")]

    def other(self, titles: Mapping[str, str]) -> list[Part]:
        return [(titles[self.second], self.second)]

    def both(self, titles: Mapping[str, str], sep: str = " · ") -> list[Part]:
        return [(titles["ko"], "ko"), (sep + titles[self.second], self.second)]

    def runs(self, text: str, lang: str) -> list[tuple[str, str]]:
        """(text, font) runs of a run in ``lang``: its language's font, Noto Sans KR for the rest."""
        own = self.faces.get(lang)
        return [(text, self.font)] if own is None else _segments(text, own, self.font)

    def width(self, text: str, lang: str, size: float) -> float:
        return sum(float(self.c.stringWidth(run, font, size)) for run, font in self.runs(text, lang))

    def wrap(self, text: str, lang: str, size: float, width: float) -> list[str]:
        """``text`` in lines no wider than ``width``: at spaces, and in Chinese or Japanese (which have none)
        between any two characters but before closing punctuation. The Thai labels have spaces between
        phrases, so they break there."""
        lines: list[str] = []
        line = ""
        for word in re.findall(r"\S+\s*", text):
            if self.width((line + word).rstrip(), lang, size) <= width:
                line += word
                continue
            if not _BREAK_ANYWHERE.search(word) and self.width(word.rstrip(), lang, size) <= width:
                lines.append(line.rstrip())
                line = word
                continue
            for ch in word:  # fill the line, then go on in the next one
                fits = self.width((line + ch).rstrip(), lang, size) <= width
                if line and not fits and ch not in _CLOSING:
                    lines.append(line.rstrip())
                    line = ""
                line += ch
        if line.strip():
            lines.append(line.rstrip())
        return [line for line in lines if line]

    def say(
        self,
        owner: Element | None,
        x: float,
        y: float,
        size: float,
        color: Color,
        parts: Sequence[Part],
        right: bool = False,
    ) -> None:
        """One line of text in runs: marked content of ``owner`` (an artifact when None)."""
        self.text(owner, [(x, y, size, color, parts)], right)

    def text(self, owner: Element | None, lines: Sequence[Line], right: bool = False) -> None:
        """Lines in one text object. Each run is marked content of ``owner``, in a Span element with its own
        /Lang when its language is not the document's. A heading is one marked-content sequence instead (a
        heading's content is one piece, which checkers read as such), its foreign runs marked
        ``/Span <</Lang (…)>>`` inside it."""
        c, tag = self.c, self.tag
        t = c.beginText()
        code: list[str] = t._code
        heading = owner is not None and owner.role[0] == "H"
        whole: AbstractContextManager[None] = nullcontext()
        if owner is None:
            whole = tag.artifact(code)
        elif heading:
            whole = tag.content(owner, code)
        with whole:
            for x, y, size, color, parts in lines:
                if right:
                    x -= sum(self.width(text, lang, size) for text, lang in parts)
                t.setTextOrigin(x, y)
                t.setFont(self.font, size)
                current = self.font
                t.setFillColor(color)
                for text, lang in parts:
                    mark: AbstractContextManager[None]
                    if owner is None or lang == (owner.lang or self.lang):
                        mark = nullcontext() if owner is None or heading else tag.content(owner, code)
                    elif heading:
                        mark = tag.language(lang, code)
                    else:
                        mark = tag.content(owner.add("Span", lang=lang), code)
                    with mark:
                        for run, font in self.runs(text, lang):
                            if font != current:
                                t.setFont(font, size)
                                current = font
                            for piece, rise in _stacked(run):
                                if rise:
                                    t.setRise(rise * size)
                                t.textOut(piece)
                                if rise:
                                    t.setRise(0)
        c.drawText(t)

    def _header(self) -> None:
        c, req = self.c, self.req
        first = self.page == 1  # later pages repeat the header: a running artifact there
        top = PAGE_H - MARGIN
        self.text(
            self.doc.add("H1") if first else None,
            [
                (MARGIN, top - 20, 20, INK, self.ko(req.spec.titles)),
                (MARGIN, top - 34, 10, MUTED, self.other(req.spec.titles)),
            ],
        )
        right = PAGE_W - MARGIN
        number = self.doc.add("P") if first else None
        self.say(number, right, top - 8, 7.5, MUTED, self.fixed("issuance_no"), True)
        self.say(number, right, top - 22, 13, INK, [(numbers.display(req.number), self.lang)], True)
        local = req.issued_at.astimezone(KST)
        utc = req.issued_at.astimezone(UTC)
        self.say(
            self.doc.add("P") if first else None,
            right,
            top - 33,
            7.5,
            MUTED,
            [
                *self.fixed("issued_at"),
                (f" {local:%Y-%m-%d %H:%M:%S} KST ({utc:%H:%M:%S} UTC)", self.lang),
            ],
            True,
        )
        view = req.spec.view(req.view)
        holder = req.spec.holder_titles
        parts: list[Part] = [*self.fixed("holder", ": "), *self.both(holder)]
        parts += [("    ", "ko"), *self.fixed("view", ": ")]
        parts += self.both(view.titles) if view else [(req.view, self.lang)]
        # One line between the number and the rule, beside the page number on later pages: smaller type
        # when a language's titles are long (Thai)
        page = [] if first else self.fixed("page", page=self.page)
        room = PAGE_W - 2 * MARGIN
        if page:
            room -= sum(self.width(text, lang, 7.5) for text, lang in page) + 4 * mm
        wide = sum(self.width(text, lang, 7.5) for text, lang in parts)
        size = min(7.5, 7.5 * room / wide) if wide else 7.5
        self.say(self.doc.add("P") if first else None, MARGIN, top - 48, size, MUTED, parts)
        if page:
            self.say(None, right, top - 48, 7.5, MUTED, page, True)
        with self.tag.artifact():
            c.setStrokeColor(RULE)
            c.setLineWidth(0.8)
            c.line(MARGIN, top - 55, PAGE_W - MARGIN, top - 55)
        self.y = top - 70

    def _footer(self) -> None:
        c, req = self.c, self.req
        x, y = MARGIN, MARGIN + 4 * mm
        number = numbers.display(req.number)
        alt = label(self.lang, "qr_alt", number=number, url=req.verify_url)
        figure = Element("Figure", alt=alt)
        with self.tag.content(figure):
            _draw_qr(c, req.qr_payload, x, y, QR_SIZE)
        tx = x + QR_SIZE + 6 * mm
        width = PAGE_W - MARGIN - tx
        second = self.second
        # (the structure element a line starts, or None to continue the previous one), size, colour, runs
        lines: list[tuple[str | None, float, Color, list[Part]]] = [
            ("H2", 9, INK, [(label("ko", "verify"), "ko"), (" · " + label(second, "verify"), second)]),
        ]

        def paragraph(key: str, size: float, **params: object) -> None:
            """Korean, then the language beside it, each wrapped to the column: one P."""
            role: str | None = "P"
            for lang in ("ko", second):
                for line in self.wrap(label(lang, key, **params), lang, size, width):
                    lines.append((role, size, MUTED, [(line, lang)]))
                    role = None

        paragraph("verify_how", 8, url=req.verify_url)
        check: list[Part] = [(f"{label('ko', 'issuance_no')} {number}    {label('ko', 'check_code')}", "ko")]
        check += [(f" {label(second, 'check_code')}", second), (f" {req.check_code}", self.lang)]
        lines.append(("P", 9, INK, check))
        paragraph("signed", 7)
        owner = self.footer
        ty = y + QR_SIZE - 8
        # Lines longer in some languages than in others: closer together rather than below the QR code
        room = QR_SIZE - 8 + 3 * mm
        height = sum(size + 5 for _, size, _, _ in lines[:-1])
        squeeze = min(1.0, room / height) if height else 1.0
        for role, size, color, parts in lines:
            if role is not None:
                owner = self.footer.add(role)
            self.say(owner, tx, ty, size, color, parts)
            ty -= (size + 5) * squeeze
        self.footer.kids.insert(1, figure)  # after the block's heading

    def value(self, spec: FieldSpec, value: Any, size: float, width: float) -> list[list[Part]]:
        """A field's value in lines no wider than ``width``, each line's runs in their languages.

        A yes/no is a fixed label, in Korean and then in the language shown beside it. Any other value is
        Korean data (a name, an address, a date), read in the language of its letters (``script_language``:
        a Korean name in a Thai document is Korean, PDF/UA-1 7.2); a value whose letters name none (Latin,
        digits, dates, codes, the dash of an empty value) is read in the document's language.
        """
        if value is None or value == "":
            return [[("—", self.lang)]]
        if spec.type == "boolean":
            answer = "yes" if value else "no"
            return [[(label("ko", answer), "ko"), (f" / {label(self.second, answer)}", self.second)]]
        text = str(value)
        lang = script_language(text) or self.lang
        return [[(line, lang)] for line in simpleSplit(text, self.font, size, width) or ["—"]]

    def cell(self, td: Element, lines: Sequence[Sequence[Part]]) -> Element:
        """The element a value's lines are marked content of: the cell itself, or, when the whole value is in
        another language than the document's, one Span of the cell with that /Lang (its marked content
        carries the same /Lang), so a value wrapped over two lines is one piece in one voice."""
        langs = {lang for parts in lines for _, lang in parts}
        if len(langs) == 1 and (lang := langs.pop()) != self.lang:
            return td.add("Span", lang=lang)
        return td

    def need(self, height: float) -> None:
        if self.y - height < self.bottom:
            self.new_page()

    def row(self, spec: FieldSpec, value: Any) -> None:
        c = self.c
        value_x = MARGIN + 52 * mm
        width = PAGE_W - MARGIN - value_x
        lines = self.value(spec, value, 10.5, width)
        height = max(28.0, 14.0 * len(lines) + 14)
        self.need(height)
        if self.rows is None:
            self.rows = self.doc.add("Table")
        tr = self.rows.add("TR")
        th = tr.add("TH", scope="Row")
        self.say(th, MARGIN, self.y, 9.5, INK, self.ko(spec.titles))
        self.say(th, MARGIN, self.y - 10, 7, MUTED, self.other(spec.titles))
        td = self.cell(tr.add("TD"), lines)
        for i, parts in enumerate(lines):
            self.say(td, value_x, self.y - 14 * i, 10.5, INK, parts)
        self.y -= height
        with self.tag.artifact():
            c.setStrokeColor(RULE)
            c.setLineWidth(0.3)
            c.line(MARGIN, self.y + 12, PAGE_W - MARGIN, self.y + 12)

    def table(self, spec: FieldSpec, entries: Sequence[Mapping[str, Any]]) -> None:
        self.need(40)
        self.rows = None  # fields after this list start a table of their own
        self.say(self.doc.add("H2"), MARGIN, self.y, 9.5, INK, self.both(spec.titles, "  ·  "))
        self.y -= 16
        items = [i for i in spec.items if any(i.name in e for e in entries)] or list(spec.items)
        total = PAGE_W - 2 * MARGIN
        weights = [3.0 if i.type == "string" else 1.0 for i in items]
        widths = [total * w / sum(weights) for w in weights]
        table = self.doc.add("Table") if entries else None

        def header(tagged: bool) -> None:
            tr = table.add("TR") if tagged and table is not None else None
            x = MARGIN
            for item, w in zip(items, widths, strict=True):
                th = tr.add("TH", scope="Column") if tr is not None else None
                self.say(th, x, self.y, 8, MUTED, self.ko(item.titles))
                self.say(th, x, self.y - 8, 6.5, MUTED, self.other(item.titles))
                x += w
            self.y -= 16

        header(True)
        for entry in entries:
            cells = [
                self.value(item, entry.get(item.name), 8.5, w - 4)
                for item, w in zip(items, widths, strict=True)
            ]
            height = 11.0 * max(len(cell) for cell in cells) + 4
            if self.y - height < self.bottom:
                self.new_page()
                header(False)  # the repeated header row is a running artifact
            assert table is not None
            tr = table.add("TR")
            x = MARGIN
            for cell, w in zip(cells, widths, strict=True):
                td = self.cell(tr.add("TD"), cell)
                for k, parts in enumerate(cell):
                    self.say(td, x, self.y - 11 * k, 8.5, INK, parts)
                x += w
            self.y -= height
        if not entries:
            self.say(self.doc.add("P"), MARGIN, self.y, 8.5, INK, [("—", self.lang)])
            self.y -= 12
        self.y -= 8


def render(req: RenderRequest, font: str, own: str | None = None) -> bytes:
    """The unsigned PDF (one or more A4 pages).

    ``font`` is the registered Noto Sans KR, ``own`` the font of the resident's language when it has one
    (``fonts.register(cache_dir, req.language)``); without it that language is drawn in ``font``.
    """
    buffer = io.BytesIO()
    # The initial font is the embedded one: reportlab would otherwise select Helvetica (not embedded) on
    # every page, which PDF/UA does not allow even when it shows no glyph.
    c = Canvas(buffer, pagesize=A4, pageCompression=1, invariant=0, initialFontName=font)
    writer = _Writer(c, font, req, own)
    c.setTitle(writer.title())
    c.setSubject(req.spec.titles[writer.second])
    c.setAuthor("Gongyu (공유)")
    c.setCreator("Gongyu issuance")
    writer.new_page()
    for name in req.spec.view_selection(req.view):
        spec = req.spec.field(name)
        if spec is None:
            continue
        value = req.fields.get(name)
        if spec.type == "list":
            writer.table(spec, value if isinstance(value, list) else [])
        else:
            writer.row(spec, value)
    writer.finish()
    c.showPage()
    c.save()
    # the signature field's description (/TU, and the Form element's /Alt) in the document's language
    signature = (SIGNATURE_FIELD, label(writer.lang, "signature"))
    return writer.tag.finish(buffer.getvalue(), writer.title(), signature)
