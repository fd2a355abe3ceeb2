"""Agencies that expose an XML/SOAP service (the court family registry).

A spec's query names the operation and where the fields are in the answer::

    [query]
    endpoint = "/FamilyRegistryService"         # POSTed to the agency's base URL
    soap_version = "1.1"                        # or "1.2"
    namespace = "urn:kr:scourt:family-registry:v1"
    operation = "GetFamilyRelationsCertificate" # request element (in ``namespace``) inside the Body
    subject_element = "ResidentNumber"          # its child carrying the subject (default)
    response = "fr:FamilyRelationsCertificate"  # XPath from the Body to the payload element
    namespaces = { fr = "urn:kr:scourt:family-registry:v1" }
    not_found_faults = ["NotFound"]             # fault (sub)codes meaning "no such subject" (default)
    [query.record]
    name = "fr:Principal/fr:Name"               # field -> XPath from the payload element
    [query.lists.members]
    path = "fr:Members/fr:Member"               # one list entry per node
    fields = { relation = "@relation", name = "fr:Name" }

Agency XML is parsed as hostile input: no entity resolution, no DTD loading or validation, no network, no
huge trees, and any DOCTYPE is refused before parsing (with it go XXE and billion-laughs); only UTF-8 is read;
the body is size-limited while streaming; the payload must validate against the agency's XSD. A SOAP fault
whose code, subcode or detail names a ``not_found_faults`` entry means the agency has no such subject; other
sender/client faults are ``rejected``, receiver/server faults ``unavailable``, anything else ``bad_response``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import httpx
from lxml import etree  # type: ignore[import-untyped]

from adapters.base import BAD_RESPONSE, REJECTED, UNAVAILABLE, AgencyError, QueryError, Record
from adapters.http import MAX_RESPONSE_BYTES, HttpAdapter
from adapters.resilience import ResiliencePolicy

SOAP_NS = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}
CONTENT_TYPES = {"1.1": "text/xml", "1.2": "application/soap+xml"}
_QUERY_KEYS = {
    "endpoint",
    "soap_version",
    "namespace",
    "operation",
    "action",
    "subject_element",
    "response",
    "namespaces",
    "not_found_faults",
    "record",
    "lists",
}
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def safe_parser() -> Any:
    """The only parser agency XML ever meets."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def load_schema(path: Path) -> Any:
    """An XSD from a trusted local file (the schema parser is locked down all the same)."""
    return etree.XMLSchema(etree.parse(str(path), safe_parser()))


def parse_untrusted(body: bytes) -> Any:
    """Parse agency XML or raise ValueError: UTF-8 only, no DOCTYPE/ENTITY declarations, no entities."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not-utf-8") from None
    declared = _DECLARED_ENCODING.match(body.lstrip(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise ValueError("encoding")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("doctype")
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError:
        raise ValueError("syntax") from None
    if root.getroottree().docinfo.doctype:
        raise ValueError("doctype")
    return root


class SoapAdapter(HttpAdapter):
    kind = "soap"

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        xsd: Path | None = None,
        policy: ResiliencePolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        pool_size: int = 20,
        health_path: str = "/health",
    ) -> None:
        super().__init__(
            name,
            base_url,
            policy=policy,
            transport=transport,
            max_response_bytes=max_response_bytes,
            pool_size=pool_size,
            health_path=health_path,
        )
        self.schema = load_schema(xsd) if xsd is not None else None
        self._xpaths: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def _xpath(self, expression: str, namespaces: Mapping[str, str]) -> Any:
        key = (expression, tuple(sorted(namespaces.items())))
        compiled = self._xpaths.get(key)
        if compiled is None:
            compiled = self._xpaths[key] = etree.XPath(
                expression, namespaces=dict(namespaces), smart_strings=False
            )
        return compiled

    def validate_query(self, query: Mapping[str, Any]) -> None:
        unknown = set(query) - _QUERY_KEYS
        if unknown:
            raise QueryError(f"unknown query keys: {', '.join(sorted(unknown))}")
        endpoint = query.get("endpoint")
        if (
            not isinstance(endpoint, str)
            or not endpoint.startswith("/")
            or any(c in endpoint for c in "?#{}% ")
        ):
            raise QueryError("query.endpoint must be a fixed path starting with '/'")
        if query.get("soap_version", "1.1") not in SOAP_NS:
            raise QueryError("query.soap_version must be '1.1' or '1.2'")
        for key in ("namespace", "operation", "response"):
            if not isinstance(query.get(key), str) or not query[key]:
                raise QueryError(f"query.{key} is required")
        for key in ("operation", "subject_element"):
            if not _NAME.match(str(query.get(key, "ResidentNumber"))):
                raise QueryError(f"query.{key} must be an XML name")
        namespaces = query.get("namespaces", {})
        if not isinstance(namespaces, Mapping) or not all(isinstance(v, str) for v in namespaces.values()):
            raise QueryError("query.namespaces must map prefixes to namespace URIs")
        faults = query.get("not_found_faults", ["NotFound"])
        if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
            raise QueryError("query.not_found_faults must be a list of fault code names")
        record = query.get("record", {})
        lists = query.get("lists", {})
        if not isinstance(record, Mapping) or not isinstance(lists, Mapping):
            raise QueryError("query.record and query.lists must be tables")
        expressions = [query["response"], *record.values()]
        for name, spec in lists.items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str):
                raise QueryError(f"query.lists.{name} needs a path")
            if not isinstance(spec.get("fields", {}), Mapping):
                raise QueryError(f"query.lists.{name}.fields must be a table")
            expressions += [spec["path"], *spec.get("fields", {}).values()]
        for expression in expressions:
            if not isinstance(expression, str):
                raise QueryError("XPath expressions must be strings")
            try:
                self._xpath(expression, namespaces)
            except etree.XPathSyntaxError:
                raise QueryError(f"invalid XPath: {expression!r}") from None

    def _request(self, query: Mapping[str, Any], subject: str) -> tuple[bytes, dict[str, str]]:
        version = query.get("soap_version", "1.1")
        soap = SOAP_NS[version]
        namespace = query["namespace"]
        envelope = etree.Element(f"{{{soap}}}Envelope", nsmap={"soap": soap, "q": namespace})
        body = etree.SubElement(envelope, f"{{{soap}}}Body")
        operation = etree.SubElement(body, f"{{{namespace}}}{query['operation']}")
        etree.SubElement(
            operation, f"{{{namespace}}}{query.get('subject_element', 'ResidentNumber')}"
        ).text = subject
        action = query.get("action", f"{namespace}#{query['operation']}")
        if version == "1.1":
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
        else:
            headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        headers["Accept"] = CONTENT_TYPES[version]
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8")), headers

    def _bad(self, cause: str) -> AgencyError:
        return AgencyError(self.name, BAD_RESPONSE, cause=cause)

    async def _fetch_once(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None:
        version = query.get("soap_version", "1.1")
        content, headers = self._request(query, subject)
        answer = await self._post(query["endpoint"], content, headers)
        if answer.status not in (200, 400, 500):
            reason = UNAVAILABLE if answer.status > 500 else BAD_RESPONSE
            raise AgencyError(self.name, reason, cause=f"http-{answer.status}")
        if answer.media_type != CONTENT_TYPES[version] or answer.charset not in (None, "utf-8"):
            if answer.status >= 500:
                raise AgencyError(self.name, UNAVAILABLE, cause=f"http-{answer.status}")
            raise self._bad("content-type")
        try:
            root = parse_untrusted(answer.body)
        except ValueError as exc:
            raise self._bad(str(exc)) from None
        soap = SOAP_NS[version]
        if root.tag != f"{{{soap}}}Envelope":
            raise self._bad("not-an-envelope")
        body = root.find(f"{{{soap}}}Body")
        if body is None:
            raise self._bad("no-body")
        fault = body.find(f"{{{soap}}}Fault")
        if fault is not None:
            self._fault(query, version, fault)
            return None
        if answer.status != 200:
            raise self._bad(f"http-{answer.status}-without-fault")
        namespaces = query.get("namespaces", {})
        found = self._xpath(query["response"], namespaces)(body)
        if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], etree._Element):
            raise self._bad("payload")
        payload = found[0]
        if self.schema is not None and not self.schema.validate(payload):
            raise self._bad("schema")
        return self._map(query, payload, fields)

    def _fault(self, query: Mapping[str, Any], version: str, fault: Any) -> None:
        """Return when the fault means "no such subject", else raise the matching AgencyError."""
        soap = SOAP_NS[version]
        if version == "1.1":
            code = fault.findtext("faultcode") or ""
            codes = [code.rpartition(":")[2], *code.rpartition(":")[2].split(".")]
            detail = fault.find("detail")
            codes += [
                etree.QName(d).localname
                for d in (detail if detail is not None else [])
                if isinstance(d.tag, str)
            ]
            sender = codes[0].split(".")[0] == "Client"
            receiver = codes[0].split(".")[0] == "Server"
        else:
            values = [v.text or "" for v in fault.iter(f"{{{soap}}}Value")]
            codes = [v.rpartition(":")[2] for v in values]
            sender, receiver = bool(codes) and codes[0] == "Sender", bool(codes) and codes[0] == "Receiver"
        if set(codes) & set(query.get("not_found_faults", ["NotFound"])):
            return
        if receiver:
            raise AgencyError(self.name, UNAVAILABLE, cause="soap-fault-receiver")
        if sender:
            raise AgencyError(self.name, REJECTED, cause="soap-fault-sender")
        raise self._bad("soap-fault")

    def _value(self, expression: str, node: Any, namespaces: Mapping[str, str]) -> str | None:
        result = self._xpath(expression, namespaces)(node)
        if isinstance(result, list):
            if not result:
                return None
            first = result[0]
            if isinstance(first, etree._Element):
                return str(first.text) if first.text is not None else ""
            return str(first)
        if isinstance(result, bool):
            return "true" if result else "false"
        if isinstance(result, float):  # XPath numbers (count(), sum()) are doubles
            return str(int(result)) if result.is_integer() else str(result)
        return str(result) if result is not None else None

    def _map(self, query: Mapping[str, Any], payload: Any, fields: Collection[str]) -> Record:
        namespaces = query.get("namespaces", {})
        record: Record = {
            name: self._value(expression, payload, namespaces)
            for name, expression in query.get("record", {}).items()
        }
        for name, spec in query.get("lists", {}).items():
            if name not in fields:
                continue
            nodes = self._xpath(spec["path"], namespaces)(payload)
            if not isinstance(nodes, list):
                raise self._bad("list-path")
            record[name] = [
                {
                    item: self._value(expression, node, namespaces)
                    for item, expression in spec.get("fields", {}).items()
                }
                for node in nodes
                if isinstance(node, etree._Element)
            ]
        return record
