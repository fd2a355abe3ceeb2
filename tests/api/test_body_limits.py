"""Request bodies are capped before they are read (issue 16, point 3): 413 problem+json, memory not grown.

The oversized cases drive the ASGI app directly with a ``receive`` that counts what it hands out, so "refused
without reading it" is measured, not assumed: a declared 8 MiB body is refused having read nothing, a chunked
one after at most the cap and one chunk.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import segno
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message

from hub.app import create_app
from hub.body_limit import DEFAULT_CAP
from hub.state import HubState
from hub.web.verify_page import MAX_UPLOAD_BYTES
from tests.conftest import Backend, bearer, lookup_body
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

EIGHT_MIB = 8 * 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
async def app(hub_state: HubState, backend: Backend) -> AsyncIterator[ASGIApp]:
    application = create_app(backend.settings, state=hub_state)
    async with LifespanManager(application) as manager:
        yield manager.app


class Upload:
    """Feeds a body to the app in chunks, counting how much of it the app actually pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.pulled >= self.size:
            return {"type": "http.disconnect"}
        chunk = min(CHUNK, self.size - self.pulled)
        self.pulled += chunk
        return {
            "type": "http.request",
            "body": b"{" + b" " * (chunk - 1),
            "more_body": self.pulled < self.size,
        }

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> dict[str, object]:
        data = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        parsed: dict[str, object] = json.loads(data)
        return parsed


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("hub.test", 80),
        "client": ("127.0.0.1", 50000),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"hub.test"), (b"content-type", b"application/json"), *headers],
    }


async def test_a_declared_8_mib_body_is_refused_before_a_byte_is_read(
    app: ASGIApp, hub_state: HubState
) -> None:
    upload = Upload(EIGHT_MIB)
    auth = bearer(hub_state)["Authorization"].encode()
    headers = [(b"content-length", str(EIGHT_MIB).encode()), (b"authorization", auth)]
    await app(_scope("/v1/lookups", headers), upload.receive, upload.send)
    assert upload.status == 413
    assert upload.pulled == 0, "nothing of the body was read"
    body = upload.body
    assert body["type"] == "/problems/payload-too-large" and body["status"] == 413
    assert body["instance"] != "urn:gongyu:request:-", "the refusal carries the request id"


async def test_a_chunked_body_is_cut_off_at_the_cap(app: ASGIApp, hub_state: HubState) -> None:
    upload = Upload(EIGHT_MIB)
    auth = bearer(hub_state)["Authorization"].encode()
    await app(_scope("/v1/lookups", [(b"authorization", auth)]), upload.receive, upload.send)
    assert upload.status == 413 and upload.body["type"] == "/problems/payload-too-large"
    assert upload.pulled <= DEFAULT_CAP + CHUNK, f"read {upload.pulled} bytes of an 8 MiB body"
    assert [m for m in upload.sent if m["type"] == "http.response.start"].__len__() == 1


async def test_the_same_through_http_and_on_a_form_page(api: httpx.AsyncClient, hub_state: HubState) -> None:
    declared = await api.post(
        "/v1/lookups",
        content=b"x" * (DEFAULT_CAP + 1),
        headers={**bearer(hub_state), "content-type": "application/json"},
    )
    assert_problem(declared, 413, "payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"a=" + b"b" * CHUNK

    streamed = await api.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(streamed, 413, "payload-too-large")


async def test_bodies_under_the_cap_still_work(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"])
    body["purpose"] = {"code": "loan-screening", "text": "심사" * 100}
    answer = await api.post("/v1/lookups", json=body, headers=bearer(hub_state))
    assert answer.status_code != 413, answer.text


async def test_the_verify_upload_keeps_its_own_5_mb_cap(api: httpx.AsyncClient) -> None:
    picture = io.BytesIO()
    segno.make_qr("https://example.com/not-gongyu", error="q").save(picture, kind="png", scale=6, border=4)
    png = picture.getvalue()
    # Trailing bytes after the PNG's end: a picture just under the page's cap, far over the JSON default.
    near_cap = png + b"\x00" * (MAX_UPLOAD_BYTES - len(png) - 16)
    accepted = await api.post("/verify?lang=en", files={"qr_image": ("qr.png", near_cap, "image/png")})
    assert accepted.status_code == 200, accepted.text[:300]
    assert 'data-status="invalid"' in accepted.text, "the picture was read and its QR code judged"
    over = await api.post(
        "/verify?lang=en", files={"qr_image": ("qr.png", near_cap + b"\x00" * 1024 * 1024, "image/png")}
    )
    assert over.status_code == 413 and over.headers["content-type"].startswith("text/html"), (
        "the page's own 413"
    )
