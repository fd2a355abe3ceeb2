"""A deliberately hostile agency, for proving that nothing an agency sends can hang, crash or leak the hub.

``POST /soap/<mode>`` and ``POST /rest/<mode>`` answer with the misbehaviour the mode names; ``GET /health``
is healthy (so readiness does not hide the problem). Test-only: the demo does not mount it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.sandbox.court import NS, SOAP11

XML = "text/xml; charset=utf-8"
JSON = "application/json"
LEAK_MARKER = "AGENCY-INTERNAL-7f3a"  # appears in hostile bodies; must never reach a hub response

_VALID_PAYLOAD = (
    f'<fr:FamilyRelationsCertificate xmlns:fr="{NS}"><fr:Principal><fr:Name>홍길동</fr:Name>'
    "<fr:BirthDate>1980-01-01</fr:BirthDate><fr:Sex>M</fr:Sex>"
    "<fr:ResidentNumberMasked>800101-9******</fr:ResidentNumberMasked>"
    "<fr:RegistrationBase>서울특별시 종로구</fr:RegistrationBase></fr:Principal>"
    "<fr:Members/></fr:FamilyRelationsCertificate>"
)


def _envelope(payload: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<soap:Envelope xmlns:soap="{SOAP11}">'
        f"<soap:Body>{payload}</soap:Body></soap:Envelope>"
    ).encode()


_XXE = _envelope(
    f'<fr:FamilyRelationsCertificate xmlns:fr="{NS}"><fr:Principal><fr:Name>&xxe;</fr:Name>'
    "</fr:Principal></fr:FamilyRelationsCertificate>",
    '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
)
_LAUGHS = _envelope(
    f'<fr:FamilyRelationsCertificate xmlns:fr="{NS}"><fr:Principal><fr:Name>&lol9;</fr:Name>'
    "</fr:Principal></fr:FamilyRelationsCertificate>",
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(2, 10)).replace("&lol1;", "&lol;")
    + '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
)
_SCHEMA_INVALID = _envelope(
    f'<fr:FamilyRelationsCertificate xmlns:fr="{NS}"><fr:Principal><fr:Name>{LEAK_MARKER}</fr:Name>'
    "<fr:BirthDate>not-a-date</fr:BirthDate><fr:Sex>X</fr:Sex></fr:Principal>"
    "<fr:Unexpected/></fr:FamilyRelationsCertificate>"
)
_UTF16 = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
    f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{_VALID_PAYLOAD}</soap:Body></soap:Envelope>'
).encode("utf-16")


async def _drip(chunk: bytes, every: float, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield chunk
        await asyncio.sleep(every)


async def _big(total: int) -> AsyncIterator[bytes]:
    block = b" " * 65536
    for _ in range(total // len(block) + 1):
        yield block


def _soap(mode: str) -> Response:
    if mode == "ok":
        return Response(_envelope(_VALID_PAYLOAD), media_type=XML)
    if mode == "xxe":
        return Response(_XXE, media_type=XML)
    if mode == "billion_laughs":
        return Response(_LAUGHS, media_type=XML)
    if mode == "utf16_doctype":
        return Response(_UTF16, media_type="text/xml; charset=utf-16")
    if mode == "oversized":
        return Response(
            _envelope(_VALID_PAYLOAD).replace(b"<soap:Body>", b"<soap:Body>" + b" " * 2_000_000),
            media_type=XML,
        )
    if mode == "oversized_stream":  # no Content-Length: only counting while reading can stop it
        return StreamingResponse(_big(8_000_000), media_type=XML)
    if mode == "invalid_xml":
        return Response(_envelope(_VALID_PAYLOAD)[:-30] + LEAK_MARKER.encode(), media_type=XML)
    if mode == "schema_invalid":
        return Response(_SCHEMA_INVALID, media_type=XML)
    if mode == "wrong_content_type":
        return Response(f"<html><body>{LEAK_MARKER}</body></html>".encode(), media_type="text/html")
    if mode == "slow_drip":
        return StreamingResponse(_drip(b" ", 0.2, 10_000), media_type=XML)
    if mode == "server_fault":
        fault = (
            "<soap:Fault><faultcode>soap:Server</faultcode>"
            f"<faultstring>java.sql.SQLException at {LEAK_MARKER}</faultstring></soap:Fault>"
        )
        return Response(_envelope(fault), 500, media_type=XML)
    return Response(status_code=404)


def _rest(mode: str) -> Response:
    if mode == "ok":
        return JSONResponse({"record": {"name": "홍길동"}})
    if mode == "wrong_content_type":
        return Response(f"<html>{LEAK_MARKER}</html>".encode(), media_type="text/html")
    if mode == "invalid_json":
        return Response(b'{"record": {"name": "' + LEAK_MARKER.encode(), media_type=JSON)
    if mode == "deep_json":
        return Response(b'{"record":' + b"[" * 100_000 + b"]" * 100_000 + b"}", media_type=JSON)
    if mode == "not_an_object":
        return Response(b'{"record": [1, 2, 3]}', media_type=JSON)
    if mode == "oversized":
        return Response(b'{"record": {"name": "' + b"x" * 2_000_000 + b'"}}', media_type=JSON)
    if mode == "oversized_stream":
        return StreamingResponse(_big(8_000_000), media_type=JSON)
    if mode == "slow_drip":
        return StreamingResponse(_drip(b" ", 0.2, 10_000), media_type=JSON)
    if mode == "server_error":
        return Response(f"Traceback ... {LEAK_MARKER}".encode(), 500, media_type="text/plain")
    return Response(status_code=404)


def create_app() -> Starlette:
    async def soap(request: Request) -> Response:
        await request.body()
        mode = request.path_params["mode"]
        if mode == "hang":
            await asyncio.sleep(3600)
        return _soap(mode)

    async def rest(request: Request) -> Response:
        await request.body()
        mode = request.path_params["mode"]
        if mode == "hang":
            await asyncio.sleep(3600)
        return _rest(mode)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "agency": "hostile"})

    return Starlette(
        routes=[
            Route("/soap/{mode}", soap, methods=["POST"]),
            Route("/rest/{mode}", rest, methods=["POST"]),
            Route("/health", health),
        ]
    )
