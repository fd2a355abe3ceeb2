"""A cap on request bodies, enforced before the body is read: 413 ``payload-too-large`` (problem+json).

Without it a route (or the NUL check in ``hub.errors``, which reads JSON and form bodies whole) buffers
whatever it is sent: an 8 MiB body to ``/v1/lookups`` was read, parsed and answered 422. Here a declared
``Content-Length`` over the cap is refused before a byte of the body is read, and a body without one (chunked)
is counted while it streams and refused as soon as it passes the cap, so at most the cap is ever held.

The cap is 64 KiB by default, which every JSON route and form of the hub fits in many times over. A path that
needs more names its own cap (``caps``): the public verify page takes a picture of a QR code and refuses it
above 5 MB with its own 413 page (``hub.web.verify_page``), reading an oversized upload to its end (up to
64 MiB) so the browser shows that page rather than a reset connection; its cap here is that outer bound, so
the page's handling stays in charge below it.

It sits inside the request-context middleware (so a refusal carries the request id) and outside the NUL check
(so that check never buffers more than the cap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import problem_response

DEFAULT_CAP: Final = 64 * 1024
# The verify page's own drain limit (``hub.web.verify_page._DRAIN_LIMIT``): it answers 413 itself below this.
VERIFY_PAGE_CAP: Final = 64 * 1024 * 1024
CAPS: Final[Mapping[str, int]] = {"/verify": VERIFY_PAGE_CAP}


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default: int = DEFAULT_CAP, caps: Mapping[str, int] = CAPS) -> None:
        self.app = app
        self.default = default
        self.caps = dict(caps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _refuse(scope, receive, send, cap)
            return

        received = 0
        started = False
        refused = False

        async def capped_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # Answer now, while the app waits for more body; it then sees the client as gone.
                    refused = True
                    if not started:
                        await _refuse(scope, receive, send, cap)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app answers to the "disconnect" is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the cut-off body (a client-disconnect error): the 413 already went out.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, cap: int) -> None:
    response = problem_response(
        Request(scope), 413, "payload-too-large", headers={"Connection": "close"}, limit=cap
    )
    await response(scope, receive, send)
