"""Rendering the e-document: fields with ko/en titles, the QR, number, time and an anti-copy background.

Everything is drawn as vectors with reportlab: the guilloche (hypotrochoid rosettes and phase-shifted
wave bands, a pattern that photocopiers and scanners blur), microtext lines repeating the issuance
number (they turn into a grey line when copied), and the QR code itself (one filled path, sharp at any
zoom). The guilloche is one of 16 variants chosen by the number's hash (each computed once per process), the
microtext carries the number itself. The font is Noto Sans KR converted to TrueType (see ``fonts``), embedded
as a subset.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from reportlab import rl_config
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.pathobject import PDFPathObject

from document_specs.model import DocumentSpec, FieldSpec
from hub.issuance import numbers
from hub.issuance.qr import make_qr

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


def _format(spec: FieldSpec, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if spec.type == "boolean":
        return "예 / Yes" if value else "아니요 / No"
    return str(value)


class _Writer:
    """Page flow: header on every page, the QR block at the foot of the first page."""

    def __init__(self, c: Canvas, font: str, req: RenderRequest) -> None:
        self.c, self.font, self.req = c, font, req
        self.page = 0
        self.y = 0.0
        self.bottom = MARGIN

    def new_page(self) -> None:
        if self.page:
            self.c.showPage()
        self.page += 1
        _background(self.c, self.font, self.req.number)
        self._header()
        self.bottom = MARGIN + (FOOTER_H if self.page == 1 else 8 * mm)
        if self.page == 1:
            self._footer()

    def _header(self) -> None:
        c, font, req = self.c, self.font, self.req
        top = PAGE_H - MARGIN
        c.setFillColor(INK)
        c.setFont(font, 20)
        c.drawString(MARGIN, top - 20, req.spec.titles["ko"])
        c.setFillColor(MUTED)
        c.setFont(font, 10)
        c.drawString(MARGIN, top - 34, req.spec.titles["en"])
        right = PAGE_W - MARGIN
        c.setFont(font, 7.5)
        c.drawRightString(right, top - 8, "발급번호 Issuance No.")
        c.setFillColor(INK)
        c.setFont(font, 13)
        c.drawRightString(right, top - 22, numbers.display(req.number))
        c.setFillColor(MUTED)
        c.setFont(font, 7.5)
        local = req.issued_at.astimezone(KST)
        utc = req.issued_at.astimezone(UTC)
        c.drawRightString(
            right, top - 33, f"발급일시 Issued at {local:%Y-%m-%d %H:%M:%S} KST ({utc:%H:%M:%S} UTC)"
        )
        view = req.spec.view(req.view)
        holder = req.spec.holder_titles
        c.drawString(
            MARGIN,
            top - 48,
            f"보유기관 Holder: {holder['ko']} · {holder['en']}    "
            f"열람 범위 View: {view.titles['ko'] if view else req.view}"
            + (f" · {view.titles['en']}" if view else ""),
        )
        if self.page > 1:
            c.drawRightString(right, top - 48, f"{self.page}쪽 page {self.page}")
        c.setStrokeColor(RULE)
        c.setLineWidth(0.8)
        c.line(MARGIN, top - 55, PAGE_W - MARGIN, top - 55)
        self.y = top - 70

    def _footer(self) -> None:
        c, font, req = self.c, self.font, self.req
        x, y = MARGIN, MARGIN + 4 * mm
        _draw_qr(c, req.qr_payload, x, y, QR_SIZE)
        tx = x + QR_SIZE + 6 * mm
        lines = [
            (9, INK, "진위 확인 · Verify this document"),
            (8, MUTED, f"QR 코드를 스캔하거나 {req.verify_url} 에서 발급번호를 입력하십시오."),
            (8, MUTED, f"Scan the QR code, or enter the issuance number at {req.verify_url}."),
            (9, INK, f"발급번호 {numbers.display(req.number)}    확인코드 Check code {req.check_code}"),
            (7, MUTED, "이 문서는 공유(Gongyu) 허브가 전자서명(PAdES)하고 RFC 3161 시점확인을 받았습니다."),
            (7, MUTED, "Digitally signed by the Gongyu hub (PAdES B-T) with an RFC 3161 time stamp; any"),
            (
                7,
                MUTED,
                "change to the file invalidates the signature. A paper copy is checked by its QR code.",
            ),
        ]
        ty = y + QR_SIZE - 8
        for size, color, text in lines:
            c.setFillColor(color)
            c.setFont(font, size)
            c.drawString(tx, ty, text)
            ty -= size + 5

    def need(self, height: float) -> None:
        if self.y - height < self.bottom:
            self.new_page()

    def row(self, spec: FieldSpec, value: Any) -> None:
        c, font = self.c, self.font
        value_x = MARGIN + 52 * mm
        width = PAGE_W - MARGIN - value_x
        lines = simpleSplit(_format(spec, value), font, 10.5, width) or ["—"]
        height = max(28.0, 14.0 * len(lines) + 14)
        self.need(height)
        c.setFillColor(INK)
        c.setFont(font, 9.5)
        c.drawString(MARGIN, self.y, spec.titles["ko"])
        c.setFillColor(MUTED)
        c.setFont(font, 7)
        c.drawString(MARGIN, self.y - 10, spec.titles["en"])
        c.setFillColor(INK)
        c.setFont(font, 10.5)
        for i, line in enumerate(lines):
            c.drawString(value_x, self.y - 14 * i, line)
        self.y -= height
        c.setStrokeColor(RULE)
        c.setLineWidth(0.3)
        c.line(MARGIN, self.y + 12, PAGE_W - MARGIN, self.y + 12)

    def table(self, spec: FieldSpec, entries: Sequence[Mapping[str, Any]]) -> None:
        c, font = self.c, self.font
        self.need(40)
        c.setFillColor(INK)
        c.setFont(font, 9.5)
        c.drawString(MARGIN, self.y, f"{spec.titles['ko']}  ·  {spec.titles['en']}")
        self.y -= 16
        items = [i for i in spec.items if any(i.name in e for e in entries)] or list(spec.items)
        total = PAGE_W - 2 * MARGIN
        weights = [3.0 if i.type == "string" else 1.0 for i in items]
        widths = [total * w / sum(weights) for w in weights]

        def header() -> None:
            x = MARGIN
            c.setFillColor(MUTED)
            for item, w in zip(items, widths, strict=True):
                c.setFont(font, 8)
                c.drawString(x, self.y, item.titles["ko"])
                c.setFont(font, 6.5)
                c.drawString(x, self.y - 8, item.titles["en"])
                x += w
            self.y -= 16

        header()
        for entry in entries:
            cells = [
                simpleSplit(_format(item, entry.get(item.name)), font, 8.5, w - 4) or ["—"]
                for item, w in zip(items, widths, strict=True)
            ]
            height = 11.0 * max(len(cell) for cell in cells) + 4
            if self.y - height < self.bottom:
                self.new_page()
                header()
            x = MARGIN
            c.setFillColor(INK)
            c.setFont(font, 8.5)
            for cell, w in zip(cells, widths, strict=True):
                for k, line in enumerate(cell):
                    c.drawString(x, self.y - 11 * k, line)
                x += w
            self.y -= height
        if not entries:
            c.setFont(font, 8.5)
            c.drawString(MARGIN, self.y, "—")
            self.y -= 12
        self.y -= 8


def render(req: RenderRequest, font: str) -> bytes:
    """The unsigned PDF (one or more A4 pages)."""
    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=A4, pageCompression=1, invariant=0)
    c.setTitle(f"{req.spec.titles['ko']} ({numbers.display(req.number)})")
    c.setSubject(req.spec.titles["en"])
    c.setAuthor("Gongyu (공유)")
    c.setCreator("Gongyu issuance")
    writer = _Writer(c, font, req)
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
    c.showPage()
    c.save()
    return buffer.getvalue()
