"""Tagged PDF (PDF/UA-1) for the e-document: marked content while drawing, the structure tree afterwards.

reportlab draws but cannot tag. While a page is drawn, :class:`Tagger` wraps each piece of real content in a
marked-content sequence with its own MCID (``/P <</MCID 3>> BDC … EMC``) and every decoration (guilloche,
microtext, rules, repeated running headers) in ``/Artifact BMC … EMC``, and records the logical structure as
:class:`Element` nodes (Document > H1, P, Table > TR > TH/TD, Figure with /Alt, Span with its own /Lang). The
structure tree's order is the reading order, whatever order the page was drawn in.

:meth:`Tagger.finish` then writes what reportlab has no API for, with pikepdf (qpdf): the StructTreeRoot with
its ParentTree, each page's /StructParents and /Tabs /S, the catalog's /MarkInfo, /Lang and
/ViewerPreferences /DisplayDocTitle, and an XMP packet with the title and ``pdfuaid:part 1``. Signing comes
after, as an incremental update (pyHanko), which leaves all of it in place.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import pikepdf
from pikepdf import Array, Dictionary, Name


@dataclass(eq=False)
class Element:
    """One structure element. ``kids`` holds child elements and marked content as ``(page, mcid)``."""

    role: str
    lang: str | None = None
    alt: str | None = None
    scope: str | None = None  # a TH's /Scope: "Row" or "Column"
    kids: list[Element | tuple[int, int]] = field(default_factory=list)
    page: int | None = None

    def add(self, role: str, **attrs: Any) -> Element:
        child = Element(role, **attrs)
        self.kids.append(child)
        return child


class Tagger:
    """Marked content on a reportlab canvas (its operator list, ``canvas._code``) and the tree it builds."""

    def __init__(self, canvas: Any, lang: str) -> None:
        self.c = canvas
        self.lang = lang
        self.root = Element("Document")
        self.pages: list[list[Element]] = []  # per page, the element that owns each MCID (its index)

    def start_page(self) -> None:
        self.pages.append([])

    def _mcid(self, owner: Element) -> int:
        page = len(self.pages) - 1
        mcid = len(self.pages[page])
        self.pages[page].append(owner)
        owner.kids.append((page, mcid))
        if owner.page is None:
            owner.page = page
        return mcid

    @contextmanager
    def artifact(self, code: list[str] | None = None) -> Iterator[None]:
        ops = self.c._code if code is None else code
        ops.append("/Artifact BMC")
        yield
        ops.append("EMC")

    @contextmanager
    def content(self, owner: Element, code: list[str] | None = None) -> Iterator[None]:
        """Real content belonging to ``owner``; ``code`` is a text object's operator list (BT … ET)."""
        ops = self.c._code if code is None else code
        lang = f" /Lang {_pdf_text(owner.lang)}" if owner.lang else ""
        ops.append(f"/{owner.role} <</MCID {self._mcid(owner)}{lang}>> BDC")
        yield
        ops.append("EMC")

    @contextmanager
    def language(self, lang: str, code: list[str]) -> Iterator[None]:
        """A run in another language inside a heading's marked content: its /Lang on the marked content."""
        code.append(f"/Span <</Lang {_pdf_text(lang)}>> BDC")
        yield
        code.append("EMC")

    def finish(self, data: bytes, title: str, signature: tuple[str, str] | None = None) -> bytes:
        """The rendered PDF with its structure tree and the PDF/UA entries of the catalog.

        ``signature`` (field name, description) adds the empty signature field that the signer fills in: an
        invisible widget on page 1 with its description (/TU), tagged as a Form element (an annotation must
        be in the structure tree too). pyHanko's own field would be neither.
        """
        with pikepdf.open(io.BytesIO(data)) as pdf:
            pages = [page.obj for page in pdf.pages]
            objects: dict[int, pikepdf.Object] = {}

            def build(element: Element, parent: pikepdf.Object) -> pikepdf.Object:
                node = pdf.make_indirect(
                    Dictionary(Type=Name.StructElem, S=Name("/" + element.role), P=parent)
                )
                objects[id(element)] = node
                if element.page is not None:
                    node.Pg = pages[element.page]
                if element.lang:
                    node.Lang = pikepdf.String(element.lang)
                if element.alt:
                    node.Alt = pikepdf.String(element.alt)
                if element.scope:
                    node.A = Dictionary(O=Name.Table, Scope=Name("/" + element.scope))
                kids: list[Any] = []
                for kid in element.kids:
                    if isinstance(kid, Element):
                        kids.append(build(kid, node))
                    elif kid[0] == element.page:
                        kids.append(kid[1])
                    else:
                        kids.append(Dictionary(Type=Name.MCR, Pg=pages[kid[0]], MCID=kid[1]))
                node.K = kids[0] if len(kids) == 1 else Array(kids)  # one kid: itself, not an array
                return node

            tree = pdf.make_indirect(Dictionary(Type=Name.StructTreeRoot))
            tree.K = build(self.root, tree)
            nums = Array()
            for index, owners in enumerate(self.pages):
                nums.append(index)
                nums.append(pdf.make_indirect(Array([objects[id(owner)] for owner in owners])))
                pages[index].StructParents = index
                pages[index].Tabs = Name.S
            next_key = len(self.pages)
            if signature is not None:
                name, description = signature
                form = pdf.make_indirect(Dictionary(Type=Name.StructElem, S=Name.Form, P=tree.K, Pg=pages[0]))
                widget = pdf.make_indirect(
                    Dictionary(
                        Type=Name.Annot,
                        Subtype=Name.Widget,
                        FT=Name.Sig,
                        T=pikepdf.String(name),
                        TU=pikepdf.String(description),
                        Contents=pikepdf.String(description),
                        Rect=Array([0, 0, 0, 0]),
                        F=132,  # print, locked
                        P=pages[0],
                        StructParent=next_key,
                    )
                )
                form.K = Dictionary(Type=Name.OBJR, Obj=widget, Pg=pages[0])
                form.Alt = pikepdf.String(description)
                tree.K.K.append(form)
                pages[0].Annots = pdf.make_indirect(Array([widget]))
                root_form = Dictionary(Fields=Array([widget]))
                pdf.Root.AcroForm = pdf.make_indirect(root_form)
                nums.append(next_key)
                nums.append(form)
                next_key += 1
            tree.ParentTree = pdf.make_indirect(Dictionary(Nums=nums))
            tree.ParentTreeNextKey = next_key
            root = pdf.Root
            root.StructTreeRoot = tree
            root.MarkInfo = Dictionary(Marked=True)
            root.Lang = pikepdf.String(self.lang)
            root.ViewerPreferences = Dictionary(DisplayDocTitle=True)
            root.Metadata = pdf.make_stream(_xmp(title, self.lang), Type=Name.Metadata, Subtype=Name.XML)
            out = io.BytesIO()
            # Streams pass through as reportlab compressed them: the font and pages are not re-encoded.
            pdf.save(
                out,
                fix_metadata_version=False,
                compress_streams=False,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
            )
            return out.getvalue()


def _pdf_text(text: str) -> str:
    """A PDF literal string for a property list (language tags are ASCII)."""
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _xmp(title: str, lang: str) -> bytes:
    """XMP with the document title (dc:title), its language and the PDF/UA-1 identification."""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
   <dc:language><rdf:Bag><rdf:li>{escape(lang)}</rdf:li></rdf:Bag></dc:language>
   <pdfuaid:part>1</pdfuaid:part>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()
