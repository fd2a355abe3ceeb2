"""Response headers every answer of the hub gets: no caching of personal data, and HSTS in production.

Which responses carry personal data is not something a header rule can know reliably (a lookup, a consent
list, an audit query, an e-document, a problem+json echoing a consent id, the pages of /me, /consent,
/counter and /audit, and whatever route is added next). So the rule is inverted: **every response gets
``Cache-Control: no-store`` unless it set its own ``Cache-Control``**. A route that is public and worth
caching opts in by setting one (the signed checkpoint sends ``no-cache``); forgetting to opt in costs a
cache miss, whereas an allow-list of personal routes would leak through any route it forgot. Static files
(``/static``: CSS, scripts, fonts, no personal data) are left to the browser cache.

``Strict-Transport-Security`` is sent in production only: the demo runs over plain http on 127.0.0.1, and a
browser that once saw HSTS for a host would refuse it over http for a year.

Implemented as pure ASGI (not ``BaseHTTPMiddleware``) so that streamed bodies (audit exports, PDFs) pass
through untouched and unbuffered.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS: Final = b"max-age=31536000; includeSubDomains"
STATIC_PREFIX: Final = "/static/"


class SecurityHeadersMiddleware:
    """Adds ``Cache-Control: no-store`` (unless set), ``X-Content-Type-Options`` and, in production, HSTS."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if b"x-content-type-options" not in present:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if self.production and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
