"""Sandbox court family registry (대법원 가족관계등록): a SOAP 1.1/1.2 service with its own database.

Relations are derived from the synthetic MOIS households (spouses, parents, children, in-laws' marriages), so
a family relations certificate names the same people the resident registration copy shows. The service
answers three operations whose payloads follow ``xsd/court.xsd``; a person it does not know gets a SOAP
fault whose detail (1.1) or subcode (1.2) is ``fr:NotFound``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from sqlalchemy import Boolean, Column, Date, Engine, Index, Integer, MetaData, String, Table, Text, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.sandbox.common import Row, engine_for, households, mask, person_rng, seed_tables

NS = "urn:kr:scourt:family-registry:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
AGENCY = "court"
_PLACES = (
    "서울특별시 종로구",
    "서울특별시 중구",
    "부산광역시 중구",
    "대구광역시 중구",
    "전주시 완산구",
    "광주광역시 동구",
    "경기도 수원시",
    "충청남도 공주시",
    "경상북도 안동시",
    "제주특별자치도 제주시",
)

metadata = MetaData()

persons = Table(
    "persons",
    metadata,
    Column("resident_number", String(13), primary_key=True),
    Column("name_ko", Text, nullable=False),
    Column("name_hanja", Text, nullable=True),
    Column("birth_date", Date, nullable=False),
    Column("sex", Text, nullable=False),
    Column("registration_base", Text, nullable=False),
    Column("birth_place", Text, nullable=False),
    Column("birth_reported_on", Date, nullable=False),
    Column("married", Boolean, nullable=False),
)

family_links = Table(
    "family_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("relation", Text, nullable=False),
    Column("name_ko", Text, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", Text, nullable=False),
    Column("other_number", String(13), nullable=False),
    Index("ix_family_links_resident_number", "resident_number"),
)

marriage_events = Table(
    "marriage_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("event_date", Date, nullable=False),
    Column("spouse_name", Text, nullable=False),
    Column("spouse_birth_date", Date, nullable=False),
    Column("spouse_number", String(13), nullable=False),
    Index("ix_marriage_events_resident_number", "resident_number"),
)

TABLES = (persons, family_links, marriage_events)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def _rows(count: int, seed: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
    for home in households(count, seed):
        by_relation: dict[str, list[Row]] = {}
        for member in home.members:
            by_relation.setdefault(member["relation_to_head"], []).append(member)
        head = by_relation.get("본인", [None])[0]
        spouse = by_relation.get("배우자", [None])[0]
        kids = by_relation.get("자녀", [])
        elders = by_relation.get("부", []) + by_relation.get("모", [])
        in_law = (by_relation.get("며느리", []) + by_relation.get("사위", []) + [None])[0]
        grandkids = by_relation.get("손자녀", [])
        links: dict[str, list[tuple[str, Row]]] = {m["resident_number"]: [] for m in home.members}
        couples: list[tuple[Row, Row, Any]] = []

        def parent_word(person: Row) -> str:
            return "부" if person["sex"] == "M" else "모"

        def link(
            a: Row | None, relation: str, b: Row | None, links: dict[str, list[tuple[str, Row]]] = links
        ) -> None:
            if a is not None and b is not None:
                links[a["resident_number"]].append((relation, b))

        for elder in elders:
            link(head, parent_word(elder), elder)
            link(elder, "자녀", head)
        if head is not None and spouse is not None:
            link(head, "배우자", spouse)
            link(spouse, "배우자", head)
            couples.append((head, spouse, home.household["formed_on"]))
        for kid in kids:
            for parent in (head, spouse):
                link(parent, "자녀", kid)
                link(kid, parent_word(parent) if parent else "", parent)
        married_kid = kids[0] if in_law is not None and kids else None
        if married_kid is not None and in_law is not None:
            link(married_kid, "배우자", in_law)
            link(in_law, "배우자", married_kid)
            couples.append((married_kid, in_law, in_law["moved_in_on"]))
            for grandkid in grandkids:
                for parent in (married_kid, in_law):
                    link(parent, "자녀", grandkid)
                    link(grandkid, parent_word(parent), parent)
        married = {p["resident_number"] for pair in couples for p in pair[:2]}
        for member in home.members:
            number = member["resident_number"]
            rng = person_rng(seed, AGENCY, number)
            out["persons"].append(
                {
                    "resident_number": number,
                    "name_ko": member["name_ko"],
                    "name_hanja": member["name_hanja"],
                    "birth_date": member["birth_date"],
                    "sex": member["sex"],
                    "registration_base": rng.choice(_PLACES),
                    "birth_place": rng.choice(_PLACES),
                    "birth_reported_on": member["birth_date"] + timedelta(days=rng.randint(3, 30)),
                    "married": number in married,
                }
            )
            for seq, (relation, other) in enumerate(links[number], start=1):
                out["family_links"].append(
                    {
                        "id": len(out["family_links"]) + 1,
                        "resident_number": number,
                        "seq": seq,
                        "relation": relation,
                        "name_ko": other["name_ko"],
                        "birth_date": other["birth_date"],
                        "sex": other["sex"],
                        "other_number": other["resident_number"],
                    }
                )
        for a, b, on in couples:
            for me, them in ((a, b), (b, a)):
                out["marriage_events"].append(
                    {
                        "id": len(out["marriage_events"]) + 1,
                        "resident_number": me["resident_number"],
                        "seq": 1,
                        "kind": "혼인",
                        "event_date": on,
                        "spouse_name": them["name_ko"],
                        "spouse_birth_date": them["birth_date"],
                        "spouse_number": them["resident_number"],
                    }
                )
    return out


def seed(
    engine: Engine, count: int = 10_000, seed: int = 1123, progress: Callable[[int], None] | None = None
) -> int:
    """Fill the registry for the first ``count`` synthetic residents (idempotent, like ``mois.seed``)."""
    create_schema(engine)
    return seed_tables(engine, TABLES, _rows(count, seed), count, progress)


# --- The SOAP service ------------------------------------------------------------------------------------


class _NotFound(Exception):
    pass


class _BadRequest(Exception):
    pass


def _el(parent: etree._Element, name: str, text: object | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS}}}{name}", attrs)
    if text is not None:
        node.text = text.isoformat() if hasattr(text, "isoformat") else str(text)
    return node


def _principal(parent: etree._Element, person: Row) -> None:
    node = _el(parent, "Principal")
    _el(node, "Name", person["name_ko"])
    if person["name_hanja"]:
        _el(node, "NameHanja", person["name_hanja"])
    _el(node, "BirthDate", person["birth_date"])
    _el(node, "Sex", person["sex"])
    _el(node, "ResidentNumberMasked", mask(person["resident_number"]))
    _el(node, "RegistrationBase", person["registration_base"])


def _certificate(engine: Engine, operation: str, number: str) -> etree._Element:
    with engine.connect() as conn:
        person = conn.execute(select(persons).where(persons.c.resident_number == number)).mappings().first()
        if person is None:
            raise _NotFound
        if operation == "GetFamilyRelationsCertificate":
            root = etree.Element(f"{{{NS}}}FamilyRelationsCertificate", nsmap={"fr": NS})
            _principal(root, dict(person))
            members = _el(root, "Members")
            query = select(family_links).where(family_links.c.resident_number == number)
            for link in conn.execute(query.order_by(family_links.c.seq)).mappings():
                member = _el(members, "Member", relation=link["relation"])
                _el(member, "Name", link["name_ko"])
                _el(member, "BirthDate", link["birth_date"])
                _el(member, "Sex", link["sex"])
                _el(member, "ResidentNumberMasked", mask(link["other_number"]))
            return root
        if operation == "GetBasicCertificate":
            root = etree.Element(f"{{{NS}}}BasicCertificate", nsmap={"fr": NS})
            _principal(root, dict(person))
            birth = _el(root, "Birth")
            _el(birth, "Date", person["birth_date"])
            _el(birth, "Place", person["birth_place"])
            _el(birth, "ReportedOn", person["birth_reported_on"])
            events = _el(root, "Events")
            event = _el(events, "Event")
            _el(event, "Kind", "출생")
            _el(event, "Date", person["birth_reported_on"])
            _el(event, "Detail", f"{person['birth_place']}에서 출생 신고")
            return root
        if operation == "GetMarriageRelationsCertificate":
            root = etree.Element(f"{{{NS}}}MarriageRelationsCertificate", nsmap={"fr": NS})
            _principal(root, dict(person))
            query = select(marriage_events).where(marriage_events.c.resident_number == number)
            rows = list(conn.execute(query.order_by(marriage_events.c.seq)).mappings())
            if rows:
                spouse = _el(root, "CurrentSpouse")
                _el(spouse, "Name", rows[-1]["spouse_name"])
                _el(spouse, "BirthDate", rows[-1]["spouse_birth_date"])
                _el(spouse, "ResidentNumberMasked", mask(rows[-1]["spouse_number"]))
            events = _el(root, "MarriageEvents")
            for row in rows:
                event = _el(events, "Event")
                _el(event, "Kind", row["kind"])
                _el(event, "Date", row["event_date"])
                _el(event, "SpouseName", row["spouse_name"])
                _el(event, "SpouseBirthDate", row["spouse_birth_date"])
            return root
    raise _BadRequest


def envelope(payload: etree._Element, soap_ns: str) -> bytes:
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns})
    etree.SubElement(env, f"{{{soap_ns}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def fault(soap_ns: str, sender: bool, subcode: str | None, text: str) -> bytes:
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns, "fr": NS})
    node = etree.SubElement(etree.SubElement(env, f"{{{soap_ns}}}Body"), f"{{{soap_ns}}}Fault")
    if soap_ns == SOAP11:
        etree.SubElement(node, "faultcode").text = "soap:Client" if sender else "soap:Server"
        etree.SubElement(node, "faultstring").text = text
        if subcode:
            etree.SubElement(etree.SubElement(node, "detail"), f"{{{NS}}}{subcode}")
    else:
        code = etree.SubElement(node, f"{{{soap_ns}}}Code")
        etree.SubElement(code, f"{{{soap_ns}}}Value").text = "soap:Sender" if sender else "soap:Receiver"
        if subcode:
            sub = etree.SubElement(code, f"{{{soap_ns}}}Subcode")
            etree.SubElement(sub, f"{{{soap_ns}}}Value").text = f"fr:{subcode}"
        reason = etree.SubElement(node, f"{{{soap_ns}}}Reason")
        etree.SubElement(
            reason, f"{{{soap_ns}}}Text", {"{http://www.w3.org/XML/1998/namespace}lang": "ko"}
        ).text = text
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def content_type(soap_ns: str) -> str:
    return "text/xml; charset=utf-8" if soap_ns == SOAP11 else "application/soap+xml; charset=utf-8"


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)


def create_app(database_url: str) -> Starlette:
    """The registry's SOAP endpoint (``POST /FamilyRegistryService``) and ``GET /health``."""

    async def service(request: Request) -> Response:
        body = await request.body()
        soap_ns = (
            SOAP12 if request.headers.get("content-type", "").startswith("application/soap+xml") else SOAP11
        )
        if len(body) > 64 * 1024 or b"<!DOCTYPE" in body:
            return Response(
                fault(soap_ns, True, None, "요청이 너무 크거나 허용되지 않습니다"),
                400 if soap_ns == SOAP12 else 500,
                media_type=content_type(soap_ns),
            )
        try:
            env = etree.fromstring(body, _PARSER)
            operation_node = env.find(f"{{{soap_ns}}}Body/*")
            if operation_node is None or etree.QName(operation_node).namespace != NS:
                raise _BadRequest
            operation = etree.QName(operation_node).localname
            number = (operation_node.findtext(f"{{{NS}}}ResidentNumber") or "").replace("-", "").strip()
            if len(number) != 13 or not number.isdigit():
                raise _BadRequest
            payload = await run_in_threadpool(_certificate, engine_for(database_url), operation, number)
        except _NotFound:
            status = 400 if soap_ns == SOAP12 else 500
            return Response(
                fault(soap_ns, True, "NotFound", "등록부가 없습니다"),
                status,
                media_type=content_type(soap_ns),
            )
        except (_BadRequest, etree.XMLSyntaxError):
            status = 400 if soap_ns == SOAP12 else 500
            return Response(
                fault(soap_ns, True, "BadRequest", "잘못된 요청"), status, media_type=content_type(soap_ns)
            )
        return Response(envelope(payload, soap_ns), 200, media_type=content_type(soap_ns))

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "agency": AGENCY})

    return Starlette(
        routes=[Route("/FamilyRegistryService", service, methods=["POST"]), Route("/health", health)]
    )
