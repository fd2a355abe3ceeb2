"""Spec queries are checked at start-up per adapter kind; agency XML is parsed as hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import QueryError
from adapters.rest import RestAdapter, resolve
from adapters.soap import SoapAdapter, parse_untrusted
from document_specs.loader import load_catalog
from hub.settings import Settings
from hub.state import SANDBOX_XSD_DIR, build_adapters

pytestmark = pytest.mark.anyio


def test_every_shipped_spec_query_validates_against_its_adapter() -> None:
    adapters = build_adapters(Settings(sandbox_transport="http"))
    adapters.validate((s.type, s.adapter, s.query) for s in load_catalog().values())
    assert {a.kind for a in adapters.values()} == {"sql", "rest", "soap"}


@pytest.mark.parametrize(
    "query",
    [
        {"method": "GET", "path": "/v1/x"},  # the subject would have to go into the URL
        {"path": "/v1/x?resident_number={subject}"},
        {"path": "/v1/{subject}"},
        {"path": "v1/x"},
        {"path": "/v1/x", "body": {"resident_number": "x"}},
        {"path": "/v1/x", "record": "certificate"},
        {"path": "/v1/x", "lists": {"a": {"fields": {}}}},
        {"path": "/v1/x", "extra": 1},
    ],
)
async def test_rest_queries_that_could_leak_the_subject_or_are_malformed_are_refused(
    query: dict[str, Any],
) -> None:
    adapter = RestAdapter("t", "http://agency.test")
    try:
        with pytest.raises(QueryError):
            adapter.validate_query(query)
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    "change",
    [
        {"soap_version": "1.3"},
        {"endpoint": "/svc?x=1"},
        {"operation": "Get Thing"},
        {"response": "fr:["},
        {"record": {"name": "fr:Principal/"}},
        {"not_found_faults": "NotFound"},
    ],
)
async def test_bad_soap_queries_are_refused(change: dict[str, Any]) -> None:
    good = dict(load_catalog()["family_relations_certificate"].query)
    adapter = SoapAdapter("t", "http://agency.test", xsd=SANDBOX_XSD_DIR / "court.xsd")
    try:
        adapter.validate_query(good)
        with pytest.raises(QueryError):
            adapter.validate_query({**good, **change})
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://evil.test/x.dtd"><x/>',
        b'<?xml version="1.0" encoding="ISO-8859-1"?><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16"),
        b"<x>&undefined;</x>",
        b"<x><y></x>",
        b"\xff\xfe<x/>",
    ],
)
def test_untrusted_xml_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_untrusted(body)


def test_plain_utf8_xml_parses() -> None:
    assert parse_untrusted('<?xml version="1.0" encoding="utf-8"?><x>가</x>'.encode()).text == "가"


def test_json_pointer() -> None:
    document = {"a": {"b/c": [10, {"~d": 1}]}}
    assert resolve(document, "") is document
    assert resolve(document, "/a/b~1c/0") == 10
    assert resolve(document, "/a/b~1c/1/~0d") == 1
    assert resolve(document, "/a/missing") is not None and resolve(document, "/a/b~1c/9") is not None
