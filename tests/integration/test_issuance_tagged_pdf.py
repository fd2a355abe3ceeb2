"""Tagged e-documents (PDF/UA-1, issue 14): what a screen reader needs, checked on the issued, signed PDF.

Each document is issued through the real service on SQLite and on PostgreSQL, in Korean, and in Vietnamese,
Thai, simplified Chinese and Japanese (shown beside the Korean original, the last three in their own fonts),
then checked by independent tools: poppler's ``pdfinfo`` (tagged),
``pdftotext`` (reading order), ``pdfsig`` (the signature still covers the whole file), the ``pdfua`` checker
of the machine-checkable PDF/UA-1 subset, and pikepdf for the structure tree itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pikepdf
import pytest
from pdfua import validate
from reportlab.pdfbase import pdfmetrics

from consent import Actor
from document_specs.loader import load_catalog
from document_specs.model import DocumentSpec
from hub.issuance import fonts, pdf, qr
from hub.issuance.verify import TrustAnchors, verify_pdf
from hub.state import HubState, build_state
from hub.uow import transaction
from tests.conftest import Backend, bearer, lookup_body
from tests.helpers.pages import CSRF, browsers, sign_in

BANK = Actor(
    kind="client",
    id="test-bank",
    org="Test Bank",
    client_kind="bank",
    statutes=frozenset({"KR-FTRA-5-2", "KR-RRA-29-2-1"}),
)
SPEC = load_catalog()["resident_registration_abstract"]
# The header's "Issuance No." label as the resident reads it (beside Korean's 발급번호), written out here so
# the test does not read it from the catalog it checks.
ISSUANCE_NO = {
    "ko": "Issuance No.",
    "vi": "Số phát hành",
    "th": "เลขที่ออกเอกสาร",
    "zh": "签发编号",
    "ja": "発行番号",
}
OWN_FONTS = {"th": "GongyuSansTH", "zh": "GongyuSansSC", "ja": "GongyuSansJP"}  # drawn in a font of their own
__all__ = ["browsers"]  # the fixture, re-exported for pytest


@dataclass(frozen=True)
class Issued:
    language: str
    number: str
    pdf: bytes
    path: Path
    jwks: dict[str, Any]
    resident: dict[str, str]


_ISSUED: dict[tuple[str, str], Issued] = {}  # one signed document per backend and language, for the module


def _issue(backend: Backend, language: str, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    key = (backend.name, language)
    if key not in _ISSUED:

        async def run() -> Issued:
            state = build_state(backend.settings)
            try:
                resident = backend.residents[0]
                body = json.dumps(lookup_body(resident["resident_number"])).encode()
                async with transaction(state.sessions) as session:
                    out = await state.issuance.issue(session, BANK, body, f"tagged-{language}", language)
                _, data = await state.issuance.pdf_for(BANK, out.issuance_number)
                path = tmp_path_factory.mktemp(f"tagged-{backend.name}-{language}") / "document.pdf"
                path.write_bytes(data)
                return Issued(
                    language, out.issuance_number, data, path, {"keys": state.issuance.jwks()}, resident
                )
            finally:
                await state.close()

        _ISSUED[key] = asyncio.run(run())
    return _ISSUED[key]


@pytest.fixture(params=["ko", "vi", "th", "zh", "ja"])
def issued(
    request: pytest.FixtureRequest, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Issued:
    return _issue(backend, request.param, tmp_path_factory)


def _run(*args: str) -> str:
    assert shutil.which(args[0]), f"{args[0]} (Debian poppler-utils) is required"
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def _elements(node: pikepdf.Object) -> list[pikepdf.Object]:
    """Every structure element under ``node``, depth first (the reading order)."""
    found: list[pikepdf.Object] = []
    kids = node.get("/K")
    for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
        if isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == pikepdf.Name.StructElem:
            found.append(kid)
            found += _elements(kid)
    return found


def test_pdfinfo_says_tagged_and_the_pdfua_checker_finds_nothing(issued: Issued) -> None:
    info = _run("pdfinfo", str(issued.path))
    assert any(line.split() == ["Tagged:", "yes"] for line in info.splitlines()), info
    fonts_report = _run("pdffonts", str(issued.path)).splitlines()[2:]
    assert fonts_report and all(line.split()[-5] == "yes" for line in fonts_report), fonts_report  # embedded
    names = {line.split()[0].partition("+")[2] for line in fonts_report}
    assert names == {fonts.FONT_NAME, *([OWN_FONTS[issued.language]] if issued.language in OWN_FONTS else [])}
    report = validate(str(issued.path))
    assert report.findings == (), [(f.rule_id, f.message) for f in report.findings]
    assert report.skipped == (), [(o.rule_id, o.skipped_reason) for o in report.skipped]
    assert len(report.outcomes) >= 12  # every implemented check ran


def test_a_figure_without_alt_or_an_untitled_document_fails_the_checker(
    issued: Issued, tmp_path: Path
) -> None:
    with pikepdf.open(io.BytesIO(issued.pdf)) as doc:
        (figure,) = [e for e in _elements(doc.Root.StructTreeRoot) if e.S == pikepdf.Name.Figure]
        del figure["/Alt"]
        del doc.Root["/Lang"]
        doc.save(tmp_path / "broken.pdf")
    failed = {f.rule_id for f in validate(str(tmp_path / "broken.pdf")).findings}
    assert {"UA-13-004", "UA-06-001"} <= failed


def test_the_structure_tree_has_heading_table_headers_figure_alt_and_languages(issued: Issued) -> None:
    with pikepdf.open(io.BytesIO(issued.pdf)) as doc:
        root = doc.Root
        assert str(root.Lang) == issued.language
        assert bool(root.MarkInfo.Marked) and bool(root.ViewerPreferences.DisplayDocTitle)
        # pyHanko rewrites the XMP when it signs, and keeps the PDF/UA identification (as an attribute)
        assert re.search(rb'pdfuaid:part(>|=")1', root.Metadata.read_bytes())
        tree = root.StructTreeRoot
        assert tree.K.S == pikepdf.Name.Document
        elements = _elements(tree)
        roles = [str(e.S) for e in elements]
        assert roles[:2] == ["/Document", "/H1"] and "/Table" in roles and "/Figure" in roles
        headers = [e for e in elements if e.S == pikepdf.Name.TH]
        assert headers and all(str(h.A.Scope) == "/Row" for h in headers)
        assert roles.index("/TH") < roles.index("/TD")  # each row: its header, then its value
        (figure,) = [e for e in elements if e.S == pikepdf.Name.Figure]
        assert issued.number in str(figure.Alt)
        # the other language's runs carry their own /Lang: English beside Korean, Korean beside Vietnamese
        other = "en" if issued.language == "ko" else "ko"
        assert any(e.S == pikepdf.Name.Span and str(e.get("/Lang", "")) == other for e in elements)
        if issued.language != "ko":  # no fallback: nothing is in English, not even the QR code's description
            assert {str(e.get("/Lang", "")) for e in elements} <= {"", "ko"}
        # every page is in the parent tree, and every marked-content id of page 1 has its element
        page = doc.pages[0].obj
        assert page.Tabs == pikepdf.Name.S and int(page.StructParents) == 0
        nums = tree.ParentTree.Nums
        assert int(tree.ParentTreeNextKey) == len(doc.pages) + 1 == len(nums) // 2  # pages, then the widget
        content = pikepdf.unparse_content_stream(pikepdf.parse_content_stream(doc.pages[0]))
        assert content.count(b"/MCID") == len(nums[1])
        if issued.language != "ko":  # the only other language on the page is Korean, in its own spans
            assert set(re.findall(rb"/Lang \((\w+)\)", content)) == {b"ko"}
        assert b"/Artifact BMC" in content  # guilloche, microtext and rules are artifacts
        if issued.language == "th":  # the tone mark of ที่ (in เลขที่ออกเอกสาร) raised above its vowel
            assert re.search(rb"\b[1-9][\d.]* Ts\b", content)


@dataclass(frozen=True)
class Piece:
    """One marked-content sequence of page 1 as a screen reader gets it."""

    text: str  # through the fonts' ToUnicode maps
    lang: str  # read in: its element's /Lang, else the nearest ancestor's, else the catalog's
    own: str | None  # its element's own /Lang
    marked: str | None  # the /Lang of its BDC in the content stream
    role: str  # its element's
    cell: str | None  # the table cell it is in: "/TH", "/TD" or None
    row: int | None  # the index of its table row in the document (header rows counted)


def _marked_texts(doc: pikepdf.Pdf) -> dict[int, tuple[str, str | None]]:
    """Page 1's marked-content sequences by MCID: the text and the /Lang of the BDC (reportlab's subsets
    are one-byte TrueType fonts with a ToUnicode map of single characters)."""
    maps: dict[str, dict[int, str]] = {}
    for name, resource in doc.pages[0].Resources.Font.items():
        cmap = resource.ToUnicode.read_bytes().decode()
        assert "bfrange" not in cmap
        chars = "".join(re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S))
        maps[name] = {
            int(c, 16): bytes.fromhex(u).decode("utf-16-be") for c, u in re.findall(r"<(\w+)> <(\w+)>", chars)
        }
    found: dict[int, tuple[str, str | None]] = {}
    stack: list[int | None] = []
    font: dict[int, str] = {}
    for instruction in pikepdf.parse_content_stream(doc.pages[0]):
        operands, op = instruction.operands, str(instruction.operator)
        if op == "BDC":
            props = operands[1]
            mcid = int(props.MCID) if isinstance(props, pikepdf.Dictionary) and "/MCID" in props else None
            if mcid is not None:
                found[mcid] = ("", str(props.Lang) if "/Lang" in props else None)
            # a BDC without an MCID (a heading's Span) belongs to the sequence it is in
            stack.append(mcid if mcid is not None else stack[-1] if stack else None)
        elif op == "BMC":
            stack.append(None)  # an artifact
        elif op == "EMC":
            stack.pop()
        elif op == "Tf":
            font = maps[str(operands[0])]
        elif op in ("Tj", "TJ") and stack and stack[-1] is not None:
            strings = (
                [operands[0]] if op == "Tj" else [s for s in operands[0] if isinstance(s, pikepdf.String)]
            )
            text, lang = found[stack[-1]]
            found[stack[-1]] = (text + "".join(font[b] for s in strings for b in bytes(s)), lang)
    return found


def _pieces(doc: pikepdf.Pdf) -> list[Piece]:
    """Page 1's text in reading order (the structure tree's), each piece with the language it is read in."""
    texts = _marked_texts(doc)
    page = doc.pages[0].obj.objgen
    pieces: list[Piece] = []
    rows = iter(range(10_000))

    def walk(node: pikepdf.Object, lang: str, cell: str | None, row: int | None) -> None:
        own = str(node.Lang) if "/Lang" in node else None
        lang = own or lang
        role = str(node.S)
        cell = role if role in ("/TH", "/TD") else cell
        row = next(rows) if role == "/TR" else row
        kids = node.get("/K")
        for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
            if isinstance(kid, int) and node.Pg.objgen == page:
                text, marked = texts[kid]
                pieces.append(Piece(text, lang, own, marked, role, cell, row))
            elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == pikepdf.Name.StructElem:
                walk(kid, lang, cell, row)

    walk(doc.Root.StructTreeRoot.K, str(doc.Root.Lang), None, None)
    return pieces


def _rows(pieces: list[Piece], spec: DocumentSpec = SPEC) -> dict[str, tuple[list[Piece], list[Piece]]]:
    """The first table's rows by field name (the basic view's order): its label's pieces and its value's."""
    fields = list(spec.view_selection("basic"))
    rows = sorted({p.row for p in pieces if p.row is not None})
    assert len(rows) == len(fields), rows
    return {
        name: (
            [p for p in pieces if p.row == row and p.cell == "/TH"],
            [p for p in pieces if p.row == row and p.cell == "/TD"],
        )
        for name, row in zip(fields, rows, strict=True)
    }


def test_each_value_is_read_in_the_language_of_its_script(issued: Issued) -> None:
    # PDF/UA-1 7.2: the Korean name and address are Korean in every document, the labels in their own
    # languages, and a date or a code (no letters of a language) in the document's language
    second = "en" if issued.language == "ko" else issued.language
    with pikepdf.open(io.BytesIO(issued.pdf)) as doc:
        pieces = _pieces(doc)
    assert pieces and all(p.marked == p.own for p in pieces), pieces  # the tree and the content agree
    rows = _rows(pieces)
    titles = {f.name: f.titles for f in SPEC.fields}
    for name, (labels, values) in rows.items():
        assert [(p.text.strip(), p.lang) for p in labels] == [
            (titles[name]["ko"], "ko"),
            (titles[name][second], second),
        ], labels
        assert values, name
    name_values, address_values = rows["name"][1], rows["address"][1]
    assert "".join(p.text for p in name_values) == issued.resident["name_ko"]
    assert re.search("[\uac00-\ud7a3]", "".join(p.text for p in address_values))
    for piece in [*name_values, *address_values]:
        assert piece.lang == "ko", piece
        # in the Korean document the value is simply the cell's; elsewhere a Span of the cell says /Lang ko
        expected = ("/TD", None) if issued.language == "ko" else ("/Span", "ko")
        assert (piece.role, piece.own) == expected, piece
    for name in ("resident_number_masked", "birth_date", "sex", "postal_code", "moved_in_on"):
        for piece in rows[name][1]:  # digits, dates, codes: no language of their own
            assert (piece.lang, piece.own, piece.role) == (issued.language, None, "/TD"), (name, piece)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", "".join(p.text for p in rows["birth_date"][1]))


def test_a_korean_documents_values_carry_no_redundant_lang(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> None:
    korean = _issue(backend, "ko", tmp_path_factory)
    with pikepdf.open(io.BytesIO(korean.pdf)) as doc:
        cells = [e for e in _elements(doc.Root.StructTreeRoot) if e.S == pikepdf.Name.TD]
        assert cells and all("/Lang" not in e for cell in cells for e in [cell, *_elements(cell)])
        assert b"/Lang (ko)" not in pikepdf.unparse_content_stream(pikepdf.parse_content_stream(doc.pages[0]))
    # a Thai document of the same resident tags the name Korean, its Thai label staying Thai
    with pikepdf.open(io.BytesIO(_issue(backend, "th", tmp_path_factory).pdf)) as doc:
        labels, values = _rows(_pieces(doc))["name"]
    assert [p.lang for p in labels] == ["ko", "th"] and [p.own for p in labels] == ["ko", None]
    assert [(p.text, p.lang, p.own) for p in values] == [(korean.resident["name_ko"], "ko", "ko")]


def test_a_yes_or_no_is_read_in_korean_then_in_the_residents_language() -> None:
    # a yes/no is not Korean data but a fixed label in both languages: each half in its own
    spec = load_catalog()["local_tax_payment_certificate"]
    data = pdf.render(
        pdf.RenderRequest(
            spec,
            "basic",
            {"name": "박유나", "municipality": "서울특별시 서초구", "has_arrears": False},
            "6025244779942406",
            datetime.now(UTC),
            "GY1:ABC",
            "http://x/verify",
            "000000",
            "th",
        ),
        fonts.register(),
        fonts.register(None, "th"),
    )
    with pikepdf.open(io.BytesIO(data)) as doc:
        rows = _rows(_pieces(doc), spec)
    assert [(p.text, p.lang, p.own) for p in rows["has_arrears"][1]] == [
        ("아니요", "ko", "ko"),
        (" / ไม่ใช่", "th", None),
    ]
    assert [(p.text, p.lang, p.role) for p in rows["municipality"][1]] == [
        ("서울특별시 서초구", "ko", "/Span")
    ]


def test_the_signature_fills_the_tagged_field_with_its_description(issued: Issued) -> None:
    with pikepdf.open(io.BytesIO(issued.pdf)) as doc:
        (field,) = doc.Root.AcroForm.Fields  # pyHanko signed the field the renderer made, not one of its own
        assert str(field.T) == "GongyuSignature" and field.FT == pikepdf.Name.Sig and "/V" in field
        # described in the document's language: Korean for a Korean reader, the resident's own otherwise
        described = {
            "ko": "전자서명",
            "vi": "Chữ ký số",
            "th": "ลายมือชื่ออิเล็กทรอนิกส์",
            "zh": "电子签名",
            "ja": "電子署名",
        }
        assert described[issued.language] in str(field.TU) and list(doc.pages[0].Annots) == [field]
        (form,) = [e for e in _elements(doc.Root.StructTreeRoot) if e.S == pikepdf.Name.Form]
        assert form.K.Type == pikepdf.Name.OBJR and form.K.Obj.objgen == field.objgen
        assert str(form.Alt) == str(field.TU)
        nums = doc.Root.StructTreeRoot.ParentTree.Nums
        assert nums[int(field.StructParent) * 2 + 1].objgen == form.objgen


def test_pdftotext_reads_the_title_then_each_label_before_its_value(issued: Issued) -> None:
    text = _run("pdftotext", "-raw", "-l", "1", str(issued.path), "-")
    second = "en" if issued.language == "ko" else issued.language
    names = {f.name: f.titles for f in SPEC.fields}
    order = [
        SPEC.titles["ko"],
        SPEC.titles[second],
        f"발급번호 {ISSUANCE_NO[issued.language]}",
        names["name"]["ko"],
        names["name"][second],
        issued.resident["name_ko"],
        names["birth_date"]["ko"],
        names["birth_date"][second],
        "진위 확인",
        "확인코드",
    ]
    positions = [text.find(expected) for expected in order]
    assert -1 not in positions and positions == sorted(positions), list(zip(order, positions, strict=True))


def test_the_signature_and_the_qr_are_unchanged(issued: Issued, tmp_path: Path) -> None:
    report = _run("pdfsig", str(issued.path))
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report
    anchors = TrustAnchors.from_jwks(issued.jwks)
    result = verify_pdf(issued.pdf, anchors, datetime.now(UTC))
    assert (result.status, result.reason) == ("valid", "signature_valid")
    assert result.timestamp is not None
    import zxingcpp
    from PIL import Image

    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(issued.path), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    (page,) = tmp_path.glob("page*.png")
    # QR codes only: a 1D reader can take a stretch of guilloche or Thai script for a barcode now and then.
    (found,) = zxingcpp.read_barcodes(Image.open(page), formats=zxingcpp.BarcodeFormat.QRCode)
    with pikepdf.open(io.BytesIO(issued.pdf)) as doc:
        assert found.text == str(doc.Root.GongyuQR)  # the printed payload, as signed into the catalog
    claims = qr.verify(found.text, anchors.documents, datetime.now(UTC)).claims
    assert claims is not None and claims.number == issued.number.replace("-", "")


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("ko", ("ko", "en")),
        ("en", ("en", "en")),
        ("vi", ("vi", "vi")),
        ("th", ("th", "th")),
        ("zh", ("zh", "zh")),
        ("ja", ("ja", "ja")),
        ("xx", ("ko", "en")),
    ],
)
def test_the_residents_language_is_shown_when_its_font_has_the_glyphs(
    wanted: str, expected: tuple[str, str]
) -> None:
    own = fonts.register(None, wanted) if wanted in OWN_FONTS else None
    assert own is None or own == OWN_FONTS[wanted]
    assert pdf.languages(SPEC, wanted, fonts.register(), own) == expected


def _render(
    language: str, own: str | None, view: str = "basic", record: Mapping[str, object] | None = None
) -> bytes:
    return pdf.render(
        pdf.RenderRequest(
            SPEC,
            view,
            record if record is not None else {"name": "박유나", "birth_date": "2001-01-01"},
            "6025244779942406",
            datetime.now(UTC),
            "GY1:ABC",
            "http://x/verify",
            "000000",
            language,
        ),
        fonts.register(),
        own,
    )


def test_the_document_falls_back_to_english_when_a_glyph_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Noto Sans KR alone has no Thai: a Thai reader gets Korean with English rather than empty boxes
    assert pdf.languages(SPEC, "th", fonts.register()) == ("en", "en")
    # nor does a Thai font built without the first letter of the Thai title
    missing = ord(SPEC.titles["th"][0])
    partial = dataclasses.replace(
        fonts.FACES["th"],
        name="GongyuSansTHPartial",
        ranges=((0x0020, 0x007E), (0x0E00, missing - 1), (missing + 1, 0x0E7F)),
    )
    monkeypatch.setitem(fonts.FACES, "th", partial)  # type: ignore[index]
    own = fonts.register(tmp_path, "th")
    assert own == "GongyuSansTHPartial" and missing not in pdfmetrics.getFont(own).face.charToGlyph
    assert pdf.languages(SPEC, "th", fonts.register(), own) == ("en", "en")
    (tmp_path / "fallback.pdf").write_bytes(_render("th", own))
    with pikepdf.open(tmp_path / "fallback.pdf") as doc:
        assert str(doc.Root.Lang) == "en"
    assert "GongyuSansTHPartial" not in _run("pdffonts", str(tmp_path / "fallback.pdf"))
    assert "Issuance No." in _run("pdftotext", "-raw", "-l", "1", str(tmp_path / "fallback.pdf"), "-")
    # with the whole Thai font the same document is in Thai
    monkeypatch.undo()
    with pikepdf.open(io.BytesIO(_render("th", fonts.register(None, "th")))) as doc:
        assert str(doc.Root.Lang) == "th"


@pytest.mark.parametrize("language", ["vi", "th"])
def test_a_long_list_over_several_pages_stays_tagged(language: str, tmp_path: Path) -> None:
    history = [
        {
            "seq": i,
            "address": f"서울특별시 서초구 서초대로 {i}길",
            "moved_in_on": "2001-01-01",
            "reason": "전입",
        }
        for i in range(1, 160)
    ]
    record = {"name": "박유나", "address_history": history}
    data = _render(language, fonts.register(None, language), "with_address_history", record)
    (tmp_path / "long.pdf").write_bytes(data)
    report = validate(str(tmp_path / "long.pdf"))
    assert report.findings == () and report.skipped == ()
    with pikepdf.open(io.BytesIO(data)) as doc:
        assert len(doc.pages) >= 3
        elements = _elements(doc.Root.StructTreeRoot)
        rows = [e for e in elements if e.S == pikepdf.Name.TR]
        assert len(rows) >= 159  # one per entry; the header row repeated on later pages is an artifact
        assert sum(1 for e in elements if e.S == pikepdf.Name.TH and str(e.A.Scope) == "/Column") == 4
        cells = [e for e in elements if e.S == pikepdf.Name.TD]
        # the table runs over every page (a cell holding only a Span in Korean: the Span's page)
        pages = {(e if "/Pg" in e else _elements(e)[0]).Pg.objgen for e in cells}
        assert pages == {p.objgen for p in doc.pages}
        # each entry's address and reason are Korean (a Span of the cell), its number and date are not
        tagged = [
            [
                any(s.get("/Lang") == "ko" for s in _elements(td))
                for td in _elements(row)
                if td.S == pikepdf.Name.TD
            ]
            for row in rows
        ]
        assert tagged[-159:] == [[False, True, False, True]] * 159, tagged[-3:]


@pytest.mark.anyio
async def test_the_api_takes_the_residents_language(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[1]["resident_number"])
    wrong = await api.post("/v1/issuances?language=xx", json=body, headers=bearer(hub_state))
    assert wrong.status_code == 422
    # an API client stores no language: without ?language= the document is Korean (with English)
    plain = await api.post("/v1/issuances", json=body, headers=bearer(hub_state))
    assert plain.status_code == 201, plain.text
    fetched = await api.get(f"/v1/issuances/{plain.json()['issuance_number']}/pdf", headers=bearer(hub_state))
    with pikepdf.open(io.BytesIO(fetched.content)) as doc:
        assert str(doc.Root.Lang) == "ko"
    response = await api.post("/v1/issuances?language=vi", json=body, headers=bearer(hub_state))
    assert response.status_code == 201, response.text
    number = response.json()["issuance_number"]
    fetched = await api.get(f"/v1/issuances/{number}/pdf", headers=bearer(hub_state))
    with pikepdf.open(io.BytesIO(fetched.content)) as doc:
        assert str(doc.Root.Lang) == "vi"
        assert SPEC.titles["vi"] in str(doc.docinfo.Title)


@pytest.mark.anyio
async def test_a_resident_gets_the_document_in_the_language_of_the_page(browsers, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    phone, _ = browsers
    await sign_in(phone, "resident0", "resident0-pw", "/me/documents")
    page = await phone.get("/me/documents", params={"lang": "vi"})  # the chosen language is kept in a cookie
    issued = await phone.post(
        "/me/documents",
        data={"csrf": CSRF.search(page.text).group(1), "document": "resident_registration_abstract:basic"},  # type: ignore[union-attr]
    )
    assert issued.status_code == 303, issued.text
    number = parse_qs(urlparse(issued.headers["location"]).query)["issued"][0]
    fetched = await phone.get(f"/me/documents/{number}/pdf")
    with pikepdf.open(io.BytesIO(fetched.content)) as doc:
        assert str(doc.Root.Lang) == "vi"
        headings = [e for e in _elements(doc.Root.StructTreeRoot) if e.S == pikepdf.Name.H1]
        assert headings and str(doc.docinfo.Title).startswith(SPEC.titles["vi"])


@pytest.mark.anyio
async def test_the_counter_issues_in_the_language_of_its_page(browsers) -> None:  # type: ignore[no-untyped-def]
    desk, phone = browsers
    await sign_in(desk, "official", "official-pw", "/counter")
    form = await desk.get("/counter", params={"lang": "th"})  # the official shows the page in Thai
    opened = await desk.post(
        "/counter",
        data={
            "csrf": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
            "documents": ["resident_registration_abstract:basic"],
            "issue": "true",
        },
    )
    assert opened.status_code == 303, opened.text
    session_url = str(opened.headers["location"])
    request_id = urlparse(session_url).path.rsplit("/", 1)[1]
    token = parse_qs(urlparse(session_url).query)["t"][0]
    assert (await phone.get(f"/consent/{request_id}?t={token}")).status_code == 303
    await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    decided = await phone.post(
        f"/consent/{request_id}",
        data={"decision": "approve", "csrf": CSRF.search(page.text).group(1)},  # type: ignore[union-attr]
    )
    assert decided.status_code == 200
    shown = await desk.get(session_url)
    number = re.search(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", shown.text)
    assert shown.status_code == 200 and number, shown.text
    fetched = await desk.get(f"/counter/issuances/{number.group(0)}/pdf")
    assert fetched.status_code == 200
    with pikepdf.open(io.BytesIO(fetched.content)) as doc:
        assert str(doc.Root.Lang) == "th"
        assert str(doc.docinfo.Title).startswith(SPEC.titles["th"])
