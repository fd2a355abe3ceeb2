"""Agencies that expose a REST/JSON API (National Tax Service, NHIS).

A spec's query says which endpoint answers and where the fields are in the answer::

    [query]
    path = "/v1/tax-payment-certificates/query"   # POSTed to the agency's base URL
    subject_field = "resident_number"              # body member carrying the subject (default)
    body = { purpose = "..." }                     # optional constant body members
    record = "/certificate"                        # JSON pointer (RFC 6901) to the record object
    fields = { name = "/taxpayer_name" }           # optional: field -> pointer inside the record
    [query.lists]
    arrears = "/arrears"                           # list field -> pointer to an array of objects
    history = { path = "/data/history", fields = { insured_type = "/insuredType" } }

The resident number only ever travels in the POSTed JSON body: the method is always POST and a path cannot
carry a query string or a template, so no URL (and no access log on the way) ever holds it. The answer must
be ``application/json`` (UTF-8), at most ``max_response_bytes`` long, and the record an object of scalars;
anything else is ``bad_response``. 404 means the agency has no such subject; 5xx is ``unavailable``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import orjson

from adapters.base import BAD_RESPONSE, REJECTED, UNAVAILABLE, AgencyError, QueryError, Record
from adapters.http import HttpAdapter

_SCALARS = (str, int, float, bool, type(None))
_MISSING = object()
_QUERY_KEYS = {"method", "path", "subject_field", "body", "record", "fields", "lists"}


def _pointer_ok(value: object) -> bool:
    return isinstance(value, str) and (value == "" or value.startswith("/"))


def resolve(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer; ``_MISSING`` when a step does not exist."""
    if pointer == "":
        return document
    current = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            current = current.get(token, _MISSING)
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


class RestAdapter(HttpAdapter):
    kind = "rest"

    def validate_query(self, query: Mapping[str, Any]) -> None:
        unknown = set(query) - _QUERY_KEYS
        if unknown:
            raise QueryError(f"unknown query keys: {', '.join(sorted(unknown))}")
        if str(query.get("method", "POST")).upper() != "POST":
            raise QueryError("query.method must be POST: the subject travels only in the request body")
        path = query.get("path")
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "?#{}% "):
            raise QueryError(
                "query.path must be a fixed path starting with '/' (no query string or template)"
            )
        subject_field = query.get("subject_field", "resident_number")
        if not isinstance(subject_field, str) or not subject_field:
            raise QueryError("query.subject_field must name a body member")
        body = query.get("body", {})
        if not isinstance(body, Mapping) or subject_field in body:
            raise QueryError("query.body must be a table of constants not naming the subject field")
        if not _pointer_ok(query.get("record", "")):
            raise QueryError("query.record must be a JSON pointer ('' or '/...')")
        fields = query.get("fields", {})
        if not isinstance(fields, Mapping) or not all(_pointer_ok(p) for p in fields.values()):
            raise QueryError("query.fields must map field names to JSON pointers")
        lists = query.get("lists", {})
        if not isinstance(lists, Mapping):
            raise QueryError("query.lists must map list fields to JSON pointers")
        for name, spec in lists.items():
            if isinstance(spec, Mapping):
                item_fields = spec.get("fields", {})
                if (
                    not _pointer_ok(spec.get("path"))
                    or not isinstance(item_fields, Mapping)
                    or not all(_pointer_ok(p) for p in item_fields.values())
                ):
                    raise QueryError(f"query.lists.{name} needs a path pointer and field pointers")
            elif not _pointer_ok(spec):
                raise QueryError(f"query.lists.{name} must be a JSON pointer")

    async def _fetch_once(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None:
        payload = {**query.get("body", {}), query.get("subject_field", "resident_number"): subject}
        answer = await self._post(
            query["path"],
            orjson.dumps(payload),
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        if answer.status == 404:
            return None
        if answer.status >= 500:
            raise AgencyError(self.name, UNAVAILABLE, cause=f"http-{answer.status}")
        if 400 <= answer.status < 500:
            raise AgencyError(self.name, REJECTED, cause=f"http-{answer.status}")
        if answer.status != 200:
            raise AgencyError(self.name, BAD_RESPONSE, cause=f"http-{answer.status}")
        if answer.media_type != "application/json" or answer.charset not in (None, "utf-8"):
            raise AgencyError(self.name, BAD_RESPONSE, cause="content-type")
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise AgencyError(self.name, BAD_RESPONSE, cause="json") from None
        return self._map(query, document, fields)

    def _bad(self, cause: str) -> AgencyError:
        return AgencyError(self.name, BAD_RESPONSE, cause=cause)

    def _map(self, query: Mapping[str, Any], document: Any, fields: Collection[str]) -> Record:
        record_object = resolve(document, query.get("record", ""))
        if not isinstance(record_object, dict):
            raise self._bad("record-not-an-object")
        record: Record = {k: v for k, v in record_object.items() if isinstance(v, _SCALARS)}
        for name, pointer in query.get("fields", {}).items():
            value = resolve(record_object, pointer)
            if value is _MISSING:
                record[name] = None
            elif isinstance(value, _SCALARS):
                record[name] = value
            else:
                raise self._bad("field-not-scalar")
        for name, spec in query.get("lists", {}).items():
            if name not in fields:
                continue
            path, item_fields = (
                (spec["path"], spec.get("fields")) if isinstance(spec, Mapping) else (spec, None)
            )
            items = resolve(document, path)
            if items is _MISSING or items is None:
                record[name] = []
                continue
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise self._bad("list-not-objects")
            record[name] = [self._item(item, item_fields) for item in items]
        return record

    def _item(self, item: dict[str, Any], item_fields: Mapping[str, str] | None) -> dict[str, Any]:
        if item_fields is None:
            return {k: v for k, v in item.items() if isinstance(v, _SCALARS)}
        out: dict[str, Any] = {}
        for name, pointer in item_fields.items():
            value = resolve(item, pointer)
            if value is not _MISSING and not isinstance(value, _SCALARS):
                raise self._bad("item-not-scalar")
            out[name] = None if value is _MISSING else value
        return out
